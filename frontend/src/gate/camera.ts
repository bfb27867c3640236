// Reading QR codes from the camera: the browser's BarcodeDetector where it has one for QR
// codes, jsQR (loaded only when needed) on a canvas copy of the frame elsewhere.

/** How often a frame is looked at. */
const FRAME_MS = 200;

interface DetectedBarcode {
  rawValue: string;
}
interface BarcodeDetectorLike {
  detect(source: CanvasImageSource): Promise<DetectedBarcode[]>;
}
interface BarcodeDetectorClass {
  new (options: { formats: string[] }): BarcodeDetectorLike;
  getSupportedFormats(): Promise<string[]>;
}

type Decoder = (video: HTMLVideoElement) => Promise<string | null>;

async function nativeDecoder(): Promise<Decoder | null> {
  const Detector = (globalThis as { BarcodeDetector?: BarcodeDetectorClass }).BarcodeDetector;
  if (!Detector) return null;
  try {
    if (!(await Detector.getSupportedFormats()).includes("qr_code")) return null;
  } catch {
    return null;
  }
  const detector = new Detector({ formats: ["qr_code"] });
  return async (video) => (await detector.detect(video))[0]?.rawValue ?? null;
}

async function jsqrDecoder(): Promise<Decoder> {
  const { default: jsQR } = await import("jsqr");
  const canvas = document.createElement("canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  return async (video) => {
    const { videoWidth: width, videoHeight: height } = video;
    if (!context || !width || !height) return null;
    canvas.width = width;
    canvas.height = height;
    context.drawImage(video, 0, 0, width, height);
    const frame = context.getImageData(0, 0, width, height);
    return jsQR(frame.data, width, height, { inversionAttempts: "dontInvert" })?.data ?? null;
  };
}

export interface Camera {
  stop(): void;
  /** Which decoder reads the frames: "native" (BarcodeDetector) or "jsqr". */
  decoder: "native" | "jsqr";
}

/**
 * Shows the back camera in `video` and calls `onCode` with each code read, while
 * `paused()` is false. Throws when there is no camera or it is refused.
 */
export async function startCamera(
  video: HTMLVideoElement,
  onCode: (code: string) => void,
  paused: () => boolean,
): Promise<Camera> {
  const stream = await navigator.mediaDevices.getUserMedia({
    video: { facingMode: "environment", width: { ideal: 1280 }, height: { ideal: 720 } },
    audio: false,
  });
  video.srcObject = stream;
  video.muted = true;
  video.playsInline = true;
  await video.play();
  const native = await nativeDecoder();
  const decode = native ?? (await jsqrDecoder());
  let stopped = false;
  let timer: ReturnType<typeof setTimeout>;
  const look = async () => {
    if (stopped) return;
    if (!paused() && video.readyState >= video.HAVE_CURRENT_DATA) {
      const code = await decode(video).catch(() => null);
      if (code && !stopped && !paused()) onCode(code);
    }
    timer = setTimeout(look, FRAME_MS);
  };
  look();
  return {
    decoder: native ? "native" : "jsqr",
    stop() {
      stopped = true;
      clearTimeout(timer);
      stream.getTracks().forEach((t) => t.stop());
      video.srcObject = null;
    },
  };
}
