/**
 * CLI errors of the simulated Spectrum Virtualize system. Each one is printed on stderr as a single
 * line `CMMVCnnnnE <text>` and makes the command exit with status 1 (SVC-CLI.md §1.1, §1.7).
 * Texts marked [C] in SVC-CLI.md are copied verbatim; the others are close paraphrases.
 */
export class SvcCliError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "SvcCliError";
  }
  /** The line written to stderr. */
  get line(): string {
    return `${this.code} ${this.message}`;
  }
}

const TEXT = {
  CMMVC5701E: "No object ID was specified.",
  CMMVC5706E: "An invalid argument has been entered for the command.",
  CMMVC5707E: "Required parameters are missing.",
  CMMVC5708E: "The parameter is missing its associated arguments.",
  CMMVC5709E: "is not a supported parameter.",
  CMMVC5713E: "Some parameters are mutually exclusive.",
  CMMVC5729E: "One or more components in the list is not valid.",
  CMMVC5738E: "The argument contains too many characters.",
  CMMVC5741E: "The filter value is not valid.",
  CMMVC5753E: "The specified object does not exist or is not a suitable candidate.",
  CMMVC5754E: "The specified object does not exist, or the name supplied does not meet the naming rules.",
  CMMVC5804E: "The action failed because an object that was specified in the command does not exist.",
  CMMVC5840E:
    "The virtual disk (VDisk) was not deleted because it is mapped to a host or because it is part of a FlashCopy or Remote Copy mapping, or is involved in an image mode migrate.",
  CMMVC5842E: "The action failed because an object that was specified in the command does not exist.",
  CMMVC5867E: "The action failed because the worldwide port name is already assigned or is not valid.",
  CMMVC5871E: "The action failed because one or more of the configured port names is in a mapping.",
  CMMVC5879E: "The VDisk-to-host mapping was not created because a VDisk is already mapped to this host with this SCSI LUN.",
  CMMVC5903E: "The FlashCopy mapping was not changed because the mapping or consistency group is another state.",
  CMMVC5907E: "The FlashCopy mapping or consistency group was not started because the mapping or consistency group is already copying.",
  CMMVC5912E: "The FlashCopy mapping or consistency group was not stopped because the mapping or consistency group is already stopped.",
  CMMVC5924E:
    "The FlashCopy mapping was not created because the source and target virtual disks (VDisks) are different sizes.",
  CMMVC5951E: "The operation cannot be performed because the relationship is not a stand-alone relationship.",
  CMMVC5956E: "The relationship was not created because the master and auxiliary VDisks are different sizes.",
  CMMVC5963E: "No direction has been defined.",
  CMMVC5982E: "The operation was not performed because it is not valid given the current relationship state.",
  CMMVC6010E: "Unable to complete the command as there are insufficient free extents, or the command requested an expansion of 0 size.",
  CMMVC6017E: "A parameter or argument contains invalid characters. Ensure that all characters are ASCII.",
  CMMVC6035E: "The action failed as the object already exists.",
  CMMVC6065E: "The action failed as the object is not in a group.",
  CMMVC6071E: "The VDisk-to-host mapping was not created because the VDisk is already mapped to a host.",
  CMMVC6303E: "The create failed because the source and target VDisks are the same.",
  CMMVC6466E: "The FlashCopy mapping was not created because an identical FlashCopy mapping already exists.",
  CMMVC6527E:
    "The name that you have entered is not valid. The name can contain letters, numbers, spaces, periods, dashes, and underscores. The name must begin with a letter or an underscore. The name must not begin or end with a space.",
  CMMVC6578E: "The command has failed because the iSCSI name is already assigned or is not valid.",
  CMMVC7249E:
    "The command failed because the name that was specified is not valid. The name can contain letters, numbers, spaces, periods, dashes, and underscores. The name must begin with a letter or an underscore.",
  // [K] the codes below are plausible choices, not verified against a real system.
  CMMVC5995E: "The partnership was not created because the remote system could not be found at the specified IP address.",
  CMMVC6117E: "The relationship or consistency group could not be created because the partnership with the remote system is not fully configured.",
  CMMVC9012E: "The copy type differs from other copies already in the consistency group.",
  CMMVC5946E: "The operation was not performed because the consistency group or relationship is not empty.",
  CMMVC5935E: "The action failed because the object is a member of a consistency group or the relationship already exists.",
} as const;

export type SvcCode = keyof typeof TEXT;

/** Build an error; `text` overrides the default message of the code. */
export function svcErr(code: SvcCode, text?: string): SvcCliError {
  return new SvcCliError(code, text ?? TEXT[code]);
}

export const unsupportedFlag = (flag: string): SvcCliError =>
  svcErr("CMMVC5709E", `[${flag}] is not a supported parameter.`);
