// Why an MSP definition (a msp.MSPConfig in a channel config) cannot be used. The channel-config
// code reports it as BAD_REQUEST with the config path of the MSP value.
export class MspConfigError extends Error {
  override readonly name: string = 'MspConfigError';

  constructor(
    readonly mspId: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(mspId === '' ? reason : `MSP ${mspId}: ${reason}`, options);
  }
}

/** The message of an unknown thrown value, for wrapping. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
