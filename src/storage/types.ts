/**
 * Block-storage boundary: what a backup needs from the storage is a point-in-time copy of a set of
 * disks that it can read, and a way to let it go.
 */
export interface DiskRef {
  /** Host disk name (hdisk18). */
  name: string;
  /** Block device or image file through which the host reads it. */
  device: string;
  size: number;
  uuid?: string;
  pvid?: string;
}

export interface PointInTime {
  /** For each source disk, in order: where to read its point-in-time image. */
  disks: Array<DiskRef & { readPath: string }>;
  /** How the point in time was taken, for the job record and logs. */
  method: string;
  /** Ends the point in time (thaw, release targets). Always called, also after a failure. */
  release(): Promise<void>;
}
