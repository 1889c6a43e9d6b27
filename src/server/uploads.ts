/**
 * Uploads in progress, counted apart from the scoring queue: a request takes a scoring place only once its body
 * is read, so clients that upload slowly (or not at all) cannot fill the queue and lock others out. Uploads are
 * capped in total and per client address; the body reader (body.ts) cuts uploads that are too slow.
 */

export interface UploadLimits {
  /** Uploads in progress at once, all clients together. */
  maxUploads: number;
  /** Uploads in progress at once from one client address. */
  maxUploadsPerClient: number;
}

export class UploadsFullError extends Error {
  constructor(readonly perClient: boolean, limit: number) {
    super(perClient
      ? `too many uploads in progress from your address (the limit is ${limit} at once); wait for one to finish`
      : `the server is busy: ${limit} uploads are in progress, the limit; retry later`);
  }
}

export class UploadGate {
  private total = 0;
  private readonly byClient = new Map<string, number>();

  constructor(readonly limits: UploadLimits) {
    if (!(limits.maxUploads >= 1) || !(limits.maxUploadsPerClient >= 1)) throw new Error(`bad upload limits ${JSON.stringify(limits)}`);
  }

  /** Uploads in progress now. */
  get inProgress(): number {
    return this.total;
  }

  /** Clients with an upload in progress (the map forgets a client once its last upload ends). */
  get clients(): number {
    return this.byClient.size;
  }

  /** Lets an upload start or throws UploadsFullError; call the returned function exactly once when it ends. */
  enter(client: string): () => void {
    const mine = this.byClient.get(client) ?? 0;
    if (mine >= this.limits.maxUploadsPerClient) throw new UploadsFullError(true, this.limits.maxUploadsPerClient);
    if (this.total >= this.limits.maxUploads) throw new UploadsFullError(false, this.limits.maxUploads);
    this.total++;
    this.byClient.set(client, mine + 1);
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.total--;
      const n = (this.byClient.get(client) ?? 1) - 1;
      // No entry per past client: the map holds only clients uploading right now.
      if (n <= 0) this.byClient.delete(client);
      else this.byClient.set(client, n);
    };
  }
}
