// Steps a person takes in the app, for the e2e files that drive it through the UI: register
// (the code computed from the secret shown on screen), add a contact, open a chat, send; and
// what they need: test photos and a place for screenshots.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from 'otplib';
import type { Page } from 'playwright-core';
import { PNG } from 'pngjs';
import { expect } from 'vitest';
import { pwaDir } from './servers.ts';

/** Screenshots the e2e suite takes (beside the preview build, out of the repository). */
const shotsDir = join(pwaDir, 'node_modules/.e2e-screenshots');

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(shotsDir, { recursive: true });
  const path = join(shotsDir, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

/**
 * How far (px) the page can be scrolled sideways: the document, and the boxes the app scrolls
 * its pages in (.app, .app-main: src/styles/app.css), where an element wider than the screen
 * makes the page pan sideways while the document itself stays as wide as the screen.
 */
export async function sidewaysOverflow(page: Page): Promise<number> {
  return page.evaluate(() =>
    Math.max(
      ...[document.documentElement, ...Array.from(document.querySelectorAll('.app, .app-main'))].map(
        (el) => el.scrollWidth - el.clientWidth,
      ),
    ),
  );
}

/** What reaches past the screen's right edge, for a failure message: tag, class and text. */
export async function widerThanScreen(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    Array.from(document.querySelectorAll('body *'))
      .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 0.5)
      .map((el) => `${el.tagName.toLowerCase()}.${el.className}: ${(el.textContent ?? '').slice(0, 60)}`),
  );
}

/** A TOTP code for `secret` at an offset in 30-second steps (the relay accepts ±1 step once each). */
export const totp = (secret: string, step = 0) =>
  generate({ secret, epoch: Math.floor(Date.now() / 1000) + step * 30 });

/** Registration up to the enrolment step (QR, secret, first code); returns the secret. */
export async function startRegistration(page: Page, base: string, username: string): Promise<string> {
  await page.goto(`${base}/register`);
  await page.getByLabel('Username').fill(username);
  await page.getByRole('button', { name: 'Continue' }).click();
  const shown = ((await page.locator('.totp-secret').textContent()) ?? '').replace(/\s+/g, '');
  const secret = shown.slice(shown.lastIndexOf(':') + 1);
  expect(secret).toMatch(/^[A-Z2-7]{16,}$/);
  return secret;
}

/** The rest of registration from the enrolment step: first code, recovery codes, chats. */
export async function finishRegistration(page: Page, secret: string): Promise<void> {
  await page.getByLabel('2. Enter the code the app shows now').fill(await totp(secret));
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('heading', { name: 'Save your recovery codes' }).waitFor({ timeout: 60_000 });
  await page.getByRole('checkbox', { name: 'I have saved my recovery codes' }).check();
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.waitForURL(/\/chats$/);
}

/**
 * After logging in on a NEW device of an account that has keys elsewhere: the app asks (link
 * to the other device, or start over — spec/protocol.md §16); this answers "start over", a
 * reinstall with new keys that contacts see as a key change.
 */
export async function startOverAfterLogin(page: Page): Promise<void> {
  const ask = page.getByRole('dialog', { name: 'Your account is already set up on another device' });
  await ask.waitFor({ timeout: 60_000 });
  await ask.getByRole('button', { name: 'Start over' }).click();
  await page
    .getByRole('dialog', { name: 'Start over with new keys?' })
    .getByRole('button', { name: 'Start over with new keys' })
    .click();
  await page.waitForURL(/\/chats$/, { timeout: 60_000 });
}

export async function addContact(page: Page, username: string): Promise<void> {
  await page.getByLabel('Their username').fill(username);
  await page.getByRole('button', { name: 'Add', exact: true }).click();
  await page.getByText(`${username} is in your contacts.`).waitFor();
}

export const composer = (page: Page, contact: string) =>
  page.locator(`form[aria-label="Message to ${contact}"] textarea`);

export async function openChat(page: Page, base: string, contact: string): Promise<void> {
  await page.goto(`${base}/chats/${contact}`);
  await composer(page, contact).waitFor();
}

export async function sendText(page: Page, contact: string, text: string): Promise<void> {
  const box = composer(page, contact);
  await box.fill(text);
  await box.press('Enter');
}

/** A PNG photo of `width`×`height`: colour gradients, so a screenshot shows where it is drawn. */
export function gradientPng(width: number, height: number, hue: number): Buffer {
  const png = new PNG({ width, height });
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      png.data[i] = Math.round((255 * x) / width);
      png.data[i + 1] = Math.round((255 * y) / height);
      png.data[i + 2] = hue;
      png.data[i + 3] = 255;
    }
  return PNG.sync.write(png);
}

/** How far (px) the chat's scroller is from its bottom, once every photo in it has loaded. */
export async function distanceFromBottom(page: Page): Promise<number> {
  await page.waitForFunction(() =>
    Array.from(document.querySelectorAll<HTMLImageElement>('.message-scroller img')).every(
      (img) => img.complete && img.naturalWidth > 0,
    ),
  );
  // Two frames: a layout change from the last image and the list's answer to it are applied.
  return page.evaluate(
    () =>
      new Promise<number>((done) =>
        requestAnimationFrame(() =>
          requestAnimationFrame(() => {
            const el = document.querySelector('.message-scroller') as HTMLElement;
            done(el.scrollHeight - el.scrollTop - el.clientHeight);
          }),
        ),
      ),
  );
}
