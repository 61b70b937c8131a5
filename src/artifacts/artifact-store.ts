/**
 * What {@link ArtifactStore.pull} did with each requested path. Every requested path appears in
 * exactly one list.
 */
export interface PullResult {
  /** Downloaded (or copied) and renamed into place. */
  fetched: string[];
  /** Already present locally with the same size and SHA-256 as the remote copy; left untouched. */
  upToDate: string[];
  /** Absent remotely; nothing was created locally for them. */
  missing: string[];
}

/**
 * The artifact location shared by every pod of a rendered workflow: where a task's outputs go
 * after it succeeds, and where a downstream task (possibly on another machine) gets its inputs.
 *
 * Paths are project-relative POSIX paths (`out/report.csv`). Every method rejects an absolute
 * path or one that escapes the project with `..` (a `DagwrightError` with code `E_USAGE` naming
 * the path), so nothing is ever read or written outside the project root locally or outside the
 * store's prefix remotely.
 *
 * Covers: moving whole files, atomically on both sides (a reader never sees half a file), with
 * bounded concurrency and in constant memory. Leaves out: deciding which files to move (the
 * caller knows a task's inputs and outputs), deleting remote files, versioning, locking (the
 * state store orders tasks; two attempts of one task write the same content), and directories
 * (expand patterns with {@link ArtifactStore.list} first).
 *
 * An unreachable location, missing bucket or denied access throws a `DagwrightError` with code
 * `E_ENV`; messages never contain credentials.
 */
export interface ArtifactStore {
  /** Human description, e.g. `s3://bucket/prefix` or `volume /mnt/shared` (no credentials). */
  readonly location: string;

  /**
   * Downloads these files (if present remotely) into `root`, creating directories. Each file is
   * written to a temporary name beside its target and renamed into place only when complete (and,
   * for S3, only when its SHA-256 matches the one recorded at upload), so a failed pull leaves the
   * previous local file, or nothing, in place. A local file with the same size and SHA-256 as the
   * remote copy is not downloaded again.
   */
  pull(root: string, paths: readonly string[]): Promise<PullResult>;

  /**
   * Uploads these files from `root`. Each upload is complete or absent remotely (one S3 PUT or a
   * completed multipart upload; a volume copy goes to a temporary name, then a rename).
   *
   * @throws DagwrightError `E_TASK` when a listed file does not exist locally.
   */
  push(root: string, paths: readonly string[]): Promise<void>;

  /** Which of these paths exist remotely (HEAD / stat), without downloading anything. */
  exists(paths: readonly string[]): Promise<Set<string>>;

  /**
   * Remote files whose project-relative path starts with `prefix` (a plain string prefix, as in
   * S3: `out/` lists everything under `out`, `out` would also match `outer.csv`), sorted. Used to
   * expand output patterns such as `out/*.csv`. `""` lists everything.
   */
  list(prefix: string): Promise<string[]>;

  /** Releases connections. The store must not be used afterwards. */
  close(): Promise<void>;
}
