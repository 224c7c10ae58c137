#!/usr/bin/env node
// `npm start`: completed by the "django-host, compose and the two commands" issue.
console.error('npm start is not complete yet: the relay, PWA and django-host are still being built.');
console.error('Run `npm test` to exercise what exists.');
process.exit(1);
