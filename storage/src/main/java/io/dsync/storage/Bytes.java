package io.dsync.storage;

/** Big-endian encodings of fixed-width integers, so byte order equals numeric order. Stateless. */
public final class Bytes {
  private Bytes() {}

  /** @return {@code v} as 8 big-endian bytes */
  public static byte[] longKey(long v) {
    byte[] b = new byte[8];
    putLong(b, 0, v);
    return b;
  }

  /** Writes {@code v} big-endian into {@code b} at {@code off} (8 bytes). */
  public static void putLong(byte[] b, int off, long v) {
    for (int i = 7; i >= 0; i--) {
      b[off + i] = (byte) v;
      v >>>= 8;
    }
  }

  /** Writes {@code v} big-endian into {@code b} at {@code off} (4 bytes). */
  public static void putInt(byte[] b, int off, int v) {
    for (int i = 3; i >= 0; i--) {
      b[off + i] = (byte) v;
      v >>>= 8;
    }
  }

  /** @return the big-endian long at {@code off} of {@code b} */
  public static long getLong(byte[] b, int off) {
    long v = 0;
    for (int i = 0; i < 8; i++) {
      v = (v << 8) | (b[off + i] & 0xFF);
    }
    return v;
  }

  /** @return the big-endian int at {@code off} of {@code b} */
  public static int getInt(byte[] b, int off) {
    int v = 0;
    for (int i = 0; i < 4; i++) {
      v = (v << 8) | (b[off + i] & 0xFF);
    }
    return v;
  }
}
