// Types of host-server.mjs for the TypeScript tests that import it.
export function hostServerArgs(options: {
  host: string;
  port: number | string;
  forwardedAllowIps?: string;
  logLevel?: string;
}): string[];
