/**
 * The page's few DOM helpers: its fixed elements by id (index.html has them all), and text written
 * only when it changed, so an unchanged line costs the browser no layout.
 */

export const byId = (id: string): HTMLElement => document.getElementById(id)!;

export function setText(element: HTMLElement, text: string): void {
  if (element.textContent !== text) element.textContent = text;
}
