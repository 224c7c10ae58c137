// The page's entry, the one script index.html loads itself (with Subresource Integrity). It
// imports the app only once every script the app starts with is known to be the one index.html
// names (integrity/module-check.ts): a start-up chunk whose preload failed is never fetched again
// unchecked by the app's own static imports. It imports nothing else statically (the build
// checks that: build/integrity.ts), so no script runs before that check; and it imports the app
// (src/main.tsx, an entry of its own: vite.config.ts) by the URL index.html names.
import { checkedImport, checkStartupModules, INSTALLED } from './integrity/module-check.ts';

/** What the page says when its files cannot be loaded safely: React and the translations are among them. */
const REFUSED = {
  en: {
    title: 'Secure Drop could not load its files safely.',
    explain:
      'A file failed to arrive or was not the one this version of the app names. Nothing was run. Check your connection and reload; if this happens again, the server may be sending changed files.',
    reload: 'Reload',
  },
  ru: {
    title: 'Secure Drop не удалось безопасно загрузить свои файлы.',
    explain:
      'Один из файлов не пришёл или оказался не тем, который указан в этой версии приложения. Ничего не запущено. Проверьте подключение и перезагрузите страницу; если это повторится, возможно, сервер присылает изменённые файлы.',
    reload: 'Перезагрузить',
  },
} as const;

/**
 * The app's entry: the URL index.html names with `data-app` (build/integrity.ts); the dev server's
 * index.html names none, and serves the source.
 */
function appUrl(): string {
  return (
    document.querySelector('link[rel="modulepreload"][data-app]')?.getAttribute('href') ?? '/src/main.tsx'
  );
}

/** In both languages: the user's choice is kept by code that could not be loaded. */
function showRefused(): void {
  const main = document.createElement('main');
  main.id = 'main';
  for (const lang of ['ru', 'en'] as const) {
    const text = REFUSED[lang];
    const section = document.createElement('section');
    section.lang = lang;
    const title = document.createElement('h1');
    title.textContent = text.title;
    const explain = document.createElement('p');
    explain.textContent = text.explain;
    const reload = document.createElement('button');
    reload.type = 'button';
    reload.textContent = text.reload;
    reload.addEventListener('click', () => location.reload());
    section.append(title, explain, reload);
    main.append(section);
  }
  document.getElementById('root')?.replaceChildren(main);
}

// The app's later imports go through the same check (integrity/checked-import.ts): installed
// here, so that the check lives in this chunk only and the entry imports no other.
(globalThis as Record<symbol, unknown>)[INSTALLED] = checkedImport;
try {
  await checkStartupModules();
  await import(/* @vite-ignore */ appUrl());
} catch {
  showRefused();
}
