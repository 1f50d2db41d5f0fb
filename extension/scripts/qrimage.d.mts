// Types of qrimage.mjs, for the tests that import it.
export interface Rgba {
  width: number;
  height: number;
  data: Uint8ClampedArray;
}
export interface RenderOptions {
  moduleSize?: number;
  margin?: number;
  ecLevel?: "L" | "M" | "Q" | "H";
  fg?: [number, number, number];
  bg?: [number, number, number];
}
export function seeded(seed: number): () => number;
export function qrModules(text: string, ecLevel?: string): { size: number; dark(row: number, col: number): boolean };
export function renderQr(text: string, options?: RenderOptions): Rgba;
export function rotate(img: Rgba, degrees: number, fill?: [number, number, number]): Rgba;
export function addNoise(img: Rgba, amplitude: number, seed?: number): Rgba;
export function blur(img: Rgba, radius: number): Rgba;
export function invert(img: Rgba): Rgba;
export function addLogo(img: Rgba, fraction: number, color?: [number, number, number]): Rgba;
export function placeOn(img: Rgba, width: number, height: number, x: number, y: number, fill?: [number, number, number]): Rgba;
export function toPng(img: Rgba): Buffer;
