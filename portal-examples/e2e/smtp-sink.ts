// A local SMTP sink the API's worker delivers to (FOREXCRM_SMTP_URL), with an HTTP side the tests read
// messages from (GET /messages?to=<address>). Plain SMTP on loopback: EHLO, MAIL, RCPT, DATA, QUIT.
import { createServer as createTcpServer, type Server as TcpServer } from "node:net";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";

export interface Mail { to: string[]; raw: string; body: string }

function decodeQuotedPrintable(text: string): string {
  const bytes = text.replace(/=\r?\n/g, "").replace(/=([0-9A-F]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
  return Buffer.from(bytes, "latin1").toString("utf8");
}

function bodyOf(raw: string): string {
  const split = raw.indexOf("\r\n\r\n");
  const headers = raw.slice(0, split);
  const body = raw.slice(split + 4).replace(/\r\n\.\./g, "\r\n.");
  if (/content-transfer-encoding:\s*quoted-printable/i.test(headers)) return decodeQuotedPrintable(body);
  if (/content-transfer-encoding:\s*base64/i.test(headers)) return Buffer.from(body.replace(/\s/g, ""), "base64").toString("utf8");
  return body;
}

export class SmtpSink {
  readonly mails: Mail[] = [];
  private smtp?: TcpServer;
  private http?: HttpServer;

  async start(smtpPort: number, httpPort: number): Promise<void> {
    this.smtp = createTcpServer((socket) => {
      let buffer = "";
      let inData = false;
      let to: string[] = [];
      socket.write("220 sink ESMTP\r\n");
      socket.on("data", (chunk) => {
        buffer += chunk.toString("latin1");
        for (;;) {
          if (inData) {
            const end = buffer.indexOf("\r\n.\r\n");
            if (end < 0) return;
            const raw = Buffer.from(buffer.slice(0, end), "latin1").toString("utf8");
            buffer = buffer.slice(end + 5);
            inData = false;
            this.mails.push({ to, raw, body: bodyOf(raw) });
            to = [];
            socket.write("250 OK\r\n");
            continue;
          }
          const eol = buffer.indexOf("\r\n");
          if (eol < 0) return;
          const line = buffer.slice(0, eol);
          buffer = buffer.slice(eol + 2);
          const verb = line.slice(0, 4).toUpperCase();
          if (verb === "EHLO") socket.write("250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n");
          else if (verb === "HELO") socket.write("250 sink\r\n");
          else if (verb === "RCPT") {
            to.push(line.replace(/^RCPT TO:\s*<?([^>]*)>?.*$/i, "$1"));
            socket.write("250 OK\r\n");
          } else if (verb === "DATA") {
            inData = true;
            socket.write("354 end with .\r\n");
          } else if (verb === "QUIT") {
            socket.end("221 bye\r\n");
          } else socket.write("250 OK\r\n");
        }
      });
      socket.on("error", () => {});
    });
    this.http = createHttpServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://sink");
      const to = url.searchParams.get("to");
      const found = this.mails.filter((m) => !to || m.to.some((r) => r.toLowerCase() === to.toLowerCase()));
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify(found));
    });
    await new Promise<void>((resolve) => this.smtp!.listen(smtpPort, "127.0.0.1", resolve));
    await new Promise<void>((resolve) => this.http!.listen(httpPort, "127.0.0.1", resolve));
  }

  async stop(): Promise<void> {
    await Promise.all([this.smtp, this.http].map((s) => new Promise<void>((resolve) => (s ? s.close(() => resolve()) : resolve()))));
  }
}
