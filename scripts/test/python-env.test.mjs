import { describe, expect, it } from 'vitest';
import { findPython, PythonEnvError, versionOk } from '../python-env.mjs';

describe('python-env', () => {
  it('accepts Python 3.11 and later only', () => {
    expect(versionOk([3, 11])).toBe(true);
    expect(versionOk([3, 13])).toBe(true);
    expect(versionOk([4, 0])).toBe(true);
    expect(versionOk([3, 10])).toBe(false);
    expect(versionOk([2, 7])).toBe(false);
    expect(versionOk(null)).toBe(false);
  });

  it('says exactly what to install when no suitable Python exists', () => {
    const saved = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      expect(() => findPython({})).toThrow(PythonEnvError);
      expect(() => findPython({})).toThrow(/apt-get install python3 python3-venv/);
    } finally {
      process.env.PATH = saved;
    }
  });

  it('finds this machine’s Python', () => {
    expect(findPython({})).toMatch(/python/);
  });
});
