import { createConnection } from "node:net";
import { describe, expect, it } from "vitest";
import { hasRedisServer, startRedis } from "../services/redis.js";

/** Sends one inline command and resolves to the first reply line. */
function command(port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    let answer = "";
    socket.on("error", reject);
    socket.on("connect", () => socket.write(`${line}\r\n`));
    socket.on("data", (d) => {
      answer += d.toString();
      if (answer.includes("\r\n")) {
        socket.destroy();
        resolve(answer.split("\r\n")[0]!);
      }
    });
  });
}

describe.skipIf(!hasRedisServer())("test service: redis-server", () => {
  it("starts Redis on 127.0.0.1, keeps data across a restart with AOF, and stops it", async () => {
    const redis = await startRedis({ appendonly: true });
    try {
      expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
      expect(await command(redis.port, "SET k v")).toBe("+OK");
      await redis.halt();
      await expect(command(redis.port, "PING")).rejects.toThrow();
      await redis.start();
      expect(await command(redis.port, "GET k")).toBe("$1");
    } finally {
      await redis.stop();
    }
    await expect(command(redis.port, "PING")).rejects.toThrow();
  });
});

if (!hasRedisServer())
  console.warn(
    "redis-server is not installed: the BullMQ tests are skipped (apt-get install redis-server)",
  );
