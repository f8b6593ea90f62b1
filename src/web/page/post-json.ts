/**
 * The page's POSTs to its server: JSON in and out, and a refusal or failure turned into an Error
 * whose message is the server's code and words (what the status line shows).
 */

export async function postJson(path: string, body: object): Promise<Record<string, unknown>> {
  const response = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = (await response.json().catch(() => ({}))) as Record<string, unknown> & {
    error?: { code: string; message: string };
  };
  if (!response.ok)
    throw new Error(json.error ? `${json.error.code}: ${json.error.message}` : `HTTP ${response.status}`);
  return json;
}
