import ssh2 from "ssh2";

/**
 * An ed25519 key pair in OpenSSH format. ssh2's generateKeyPairSync drops a leading zero byte from
 * about 1 in 250 ed25519 public keys, which its own parser (and OpenSSH) then reject: generate again
 * until both halves parse.
 */
export function generateEd25519(comment: string): { private: string; public: string } {
  for (let i = 0; i < 100; i++) {
    const kp = ssh2.utils.generateKeyPairSync("ed25519", { comment });
    if (!(ssh2.utils.parseKey(kp.public.trim()) instanceof Error) && !(ssh2.utils.parseKey(kp.private) instanceof Error)) return kp;
  }
  throw new Error("could not generate a well-formed ed25519 key pair");
}
