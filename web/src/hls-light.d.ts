// hls.js publishes types for its full build only; the light build has the same API minus optional
// controllers (alternate audio, subtitles, EME, CMCD, interstitials).
declare module 'hls.js/light' {
  export * from 'hls.js';
  export { default } from 'hls.js';
}
