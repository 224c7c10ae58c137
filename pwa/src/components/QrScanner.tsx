import { useSignals } from '@preact/signals-react/runtime';
import { useEffect, useRef, useState } from 'react';
import { useT } from '../state/context.tsx';
import { decodeQr } from './qr-decode.ts';

interface Props {
  onResult: (text: string) => void;
  onClose: () => void;
}

/** How often a camera frame is decoded; enough to feel instant without burning a phone's CPU. */
const SCAN_INTERVAL_MS = 250;

/** Live camera QR scanning. The stream stops when the component unmounts. */
export function QrScanner({ onResult, onClose }: Props) {
  useSignals();
  const t = useT();
  const videoRef = useRef<HTMLVideoElement>(null);
  const [error, setError] = useState<'denied' | 'unavailable' | null>(null);

  useEffect(() => {
    let stream: MediaStream | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let live = true;

    const tick = async () => {
      const video = videoRef.current;
      if (!live || !video) return;
      if (video.readyState >= 2) {
        const text = await decodeQr(video).catch(() => null);
        if (!live) return;
        if (text) {
          onResult(text);
          return;
        }
      }
      timer = setTimeout(tick, SCAN_INTERVAL_MS);
    };

    (async () => {
      if (!navigator.mediaDevices?.getUserMedia) {
        setError('unavailable');
        return;
      }
      try {
        stream = await navigator.mediaDevices.getUserMedia({
          video: { facingMode: 'environment' },
          audio: false,
        });
      } catch (e) {
        setError(e instanceof DOMException && e.name === 'NotAllowedError' ? 'denied' : 'unavailable');
        return;
      }
      if (!live) {
        for (const track of stream.getTracks()) track.stop();
        return;
      }
      const video = videoRef.current;
      if (video) {
        video.srcObject = stream;
        await video.play().catch(() => undefined);
      }
      void tick();
    })();

    return () => {
      live = false;
      clearTimeout(timer);
      for (const track of stream?.getTracks() ?? []) track.stop();
    };
  }, [onResult]);

  return (
    <div className="qr-scanner">
      {error ? (
        <p role="alert" className="error">
          {error === 'denied' ? t('safety.cameraDenied') : t('safety.cameraUnavailable')}
        </p>
      ) : (
        <video
          ref={videoRef}
          className="qr-scanner-video"
          muted
          playsInline
          aria-label={t('safety.cameraView')}
        />
      )}
      <button type="button" className="button" onClick={onClose}>
        {t('safety.stopScan')}
      </button>
    </div>
  );
}
