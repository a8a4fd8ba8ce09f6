/** Cuts a CRM's text down to something short enough to keep per attempt: one line, at most `max` characters. */
export function snippet(text: string, max = 500): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}
