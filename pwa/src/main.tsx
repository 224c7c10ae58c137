// Entry point: build the app state over the real layers, start it, render.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app/App.tsx';
import { createApp } from './state/app.ts';

const app = createApp();
void app.start();

const root = document.getElementById('root');
if (!root) throw new Error('#root missing from index.html');
createRoot(root).render(
  <StrictMode>
    <App app={app} />
  </StrictMode>,
);
