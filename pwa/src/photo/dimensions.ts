// An image's pixel dimensions from its header, without decoding it. The sender refuses a picture
// whose pixels would not fit in memory before the browser allocates them (a small file can
// declare a huge picture: a PNG of one colour compresses 1,000×), and the receiver checks that a
// photo is the picture its message announced before it is shown (spec/protocol.md §10.5).
// image-size reads only the header (JPEG's SOFn frame header, PNG's IHDR, WebP's VP8/VP8L/VP8X,
// GIF's logical screen).

import type { PhotoMetadata } from '@secure-drop/crypto-core/photo-metadata';
import { imageSize } from 'image-size';

/**
 * Most pixels a picked picture may have: about 480 MB once decoded to RGBA. Phones' largest modes
 * (108 MP) pass; what is larger is refused as too large rather than crash the tab.
 */
export const MAX_INPUT_PIXELS = 120_000_000;
/** A header in the first MiB covers nearly every file; only then is the whole file read. */
const HEAD_BYTES = 1024 * 1024;

export interface PixelSize {
  readonly width: number;
  readonly height: number;
  /** image-size's name of the format: 'jpg', 'png', 'webp', 'gif', … */
  readonly type: string;
}

/** The dimensions the header of `bytes` declares; null when no header of a known format is found. */
export function headerSize(bytes: Uint8Array): PixelSize | null {
  try {
    const { width, height, type } = imageSize(bytes);
    if (!width || !height || !type) return null;
    return { width, height, type };
  } catch {
    return null; // truncated, corrupt or of no format image-size knows
  }
}

/** The header's dimensions of a picked file: from its first MiB, or from all of it if needed. */
export async function fileSize(file: Blob): Promise<PixelSize | null> {
  const head = headerSize(new Uint8Array(await file.slice(0, HEAD_BYTES).arrayBuffer()));
  if (head || file.size <= HEAD_BYTES) return head;
  return headerSize(new Uint8Array(await file.arrayBuffer()));
}

const TYPE_OF: Readonly<Record<PhotoMetadata['mime'], string>> = {
  'image/jpeg': 'jpg',
  'image/png': 'png',
};

/**
 * Whether a decrypted photo is the picture its message announced: of its type, and with its
 * width and height in the header (spec/protocol.md §10.5). A photo that is not is never shown.
 */
export function isAsAnnounced(
  meta: Pick<PhotoMetadata, 'mime' | 'width' | 'height'>,
  bytes: Uint8Array,
): boolean {
  const size = headerSize(bytes);
  return (
    size !== null &&
    size.type === TYPE_OF[meta.mime] &&
    size.width === meta.width &&
    size.height === meta.height
  );
}
