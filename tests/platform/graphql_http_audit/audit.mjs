// graphql-http's GraphQL-over-HTTP audit (serverAudits) against a live API: node audit.mjs <url>.
// Prints one JSON line per audit ({id, name, status, reason}); exits 1 when a MUST ("error") or a
// SHOULD ("warn") fails, 0 when every audit is "ok".
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs <graphql url>');
  process.exit(2);
}
let failed = 0;
for (const audit of serverAudits({ url })) {
  const result = await audit.fn();
  const line = { id: audit.id, name: audit.name, status: result.status };
  if (result.status !== 'ok') {
    failed += 1;
    line.reason = result.reason;
    if (result.response) {
      line.response = { status: result.response.status, contentType: result.response.headers.get('content-type'),
                        body: (await result.response.text()).slice(0, 300) };
    }
  }
  console.log(JSON.stringify(line));
}
process.exit(failed ? 1 : 0);
