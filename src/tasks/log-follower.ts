import { closeSync, openSync, readSync } from "node:fs";
import { StringDecoder } from "node:string_decoder";

/** Receives each complete line of a followed log (without its newline). */
export type LogLineHandler = (line: string, item: string | undefined) => void;

/** How one log is followed. */
export interface FollowOptions {
  /** Byte offset to start at (default 0: the whole file). */
  from?: number;
  /** The item lines belong to until a `# item KEY` marker (a bundle's worker writes) says otherwise. */
  item?: string;
  /** Pass dagwright's own `# dagwright …` header and `# item …` marker lines on too (default false). */
  headers?: boolean;
}

interface Followed {
  file: string;
  fd: number | undefined;
  offset: number;
  decoder: StringDecoder;
  partial: string;
  item: string | undefined;
  headers: boolean;
  onLine: LogLineHandler;
}

const CHUNK = 64 * 1024;
const ITEM_MARKER = /^# item (.*)$/;

/**
 * Tails log files that other code (a child process, a worker) appends to, and hands on whole
 * lines only, so the output of tasks running in parallel never interleaves mid-line. One timer
 * polls every followed file (tasks write through file descriptors this process never sees, so
 * polling the file is the one way that covers every kind of task). A file that does not exist yet
 * is looked for again on the next poll.
 */
export class LogFollower {
  private readonly files = new Set<Followed>();
  private timer: NodeJS.Timeout | undefined;

  /**
   * @param intervalMs how often files are read
   * @param keepAlive whether the timer keeps the process running (true for `logs --follow`)
   */
  constructor(
    private readonly intervalMs = 100,
    private readonly keepAlive = false,
  ) {}

  /**
   * Starts following `file`. Returns `stop`, which reads what is left, hands on a last line that
   * has no newline, and forgets the file. Never throws: an unreadable file yields no lines.
   */
  follow(file: string, onLine: LogLineHandler, options: FollowOptions = {}): () => void {
    const f: Followed = {
      file,
      fd: undefined,
      offset: options.from ?? 0,
      decoder: new StringDecoder("utf8"),
      partial: "",
      item: options.item,
      headers: options.headers ?? false,
      onLine,
    };
    this.files.add(f);
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.poll(), this.intervalMs);
      if (!this.keepAlive) this.timer.unref();
    }
    return () => this.stop(f);
  }

  /** Reads every followed file now (also done on each tick). */
  poll(): void {
    for (const f of this.files) this.read(f);
  }

  private stop(f: Followed): void {
    if (!this.files.delete(f)) return;
    this.read(f);
    const rest = f.partial + f.decoder.end();
    if (rest !== "") this.emit(f, rest);
    if (f.fd !== undefined) {
      try {
        closeSync(f.fd);
      } catch {
        // already closed
      }
    }
    if (this.files.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private read(f: Followed): void {
    if (f.fd === undefined) {
      try {
        f.fd = openSync(f.file, "r");
      } catch {
        return; // not created yet (a quiet function task may never create it)
      }
    }
    const buf = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      let n: number;
      try {
        n = readSync(f.fd, buf, 0, CHUNK, f.offset);
      } catch {
        return;
      }
      if (n === 0) return;
      f.offset += n;
      const lines = (f.partial + f.decoder.write(buf.subarray(0, n))).split("\n");
      f.partial = lines.pop()!;
      for (const line of lines) this.emit(f, line);
    }
  }

  private emit(f: Followed, line: string): void {
    if (!f.headers) {
      const marker = ITEM_MARKER.exec(line);
      if (marker) {
        f.item = marker[1];
        return;
      }
      if (line.startsWith("# dagwright ")) return;
    }
    f.onLine(line, f.item);
  }
}
