// Why a photo is refused, apart from the code that refuses it: the error screens (state/error-map.ts)
// name it at start-up, while the photo pipeline (prepare.ts, dimensions.ts, image-size) loads only
// with the messenger (pwa/BENCHMARKS.md: initial JavaScript).

/** Why a picked picture is not sent, or a received photo not shown (`photo_mismatch`). */
export type PhotoRejection = 'unsupported_image' | 'too_large' | 'photo_mismatch';

export class PhotoRejected extends Error {
  constructor(readonly reason: PhotoRejection) {
    super(reason);
    this.name = 'PhotoRejected';
  }
}
