package io.dsync.broker;

/**
 * A lease id: names one delivery of one record to a queue group, and says everything needed to
 * find it, so the broker keeps no table of ids. Its text form is four lower-case base-36
 * numbers joined by dots, {@code topicId.partition.offset.deliveryCount} (e.g. {@code 2s.0.1b.3}),
 * URL-safe and canonical (no leading zeros), so one delivery has exactly one id.
 *
 * <p>Unique per delivery: every lease of a record raises its delivery count, so an id of an
 * earlier delivery never matches the current lease, and the topic's id (the log index that
 * created it) keeps ids of a deleted and re-created topic apart. An id is only meaningful with
 * its topic and group, which requests name.
 *
 * @param topicId the id of the topic incarnation ({@code TopicMeta.id})
 * @param partition the record's partition
 * @param offset the record's offset
 * @param deliveryCount which delivery, from 1
 */
public record LeaseId(long topicId, int partition, long offset, int deliveryCount) {
  /** Longest text form accepted by {@link #parse}: four 13-digit numbers and three dots. */
  static final int MAX_LENGTH = 4 * 13 + 3;

  /** @return the text form, {@code topicId.partition.offset.deliveryCount} in base 36 */
  public String encode() {
    return Long.toString(topicId, 36) + '.' + Integer.toString(partition, 36) + '.' + Long.toString(offset, 36) + '.'
        + Integer.toString(deliveryCount, 36);
  }

  /**
   * Parses the text form (strictly: exactly what {@link #encode} writes).
   *
   * @param text a lease id as a client sent it
   * @return the lease id
   * @throws BrokerException BAD_REQUEST if it is not a well-formed lease id
   */
  public static LeaseId parse(String text) {
    if (text == null || text.isEmpty() || text.length() > MAX_LENGTH) {
      throw malformed(text);
    }
    String[] parts = text.split("\\.", -1);
    if (parts.length != 4) {
      throw malformed(text);
    }
    long[] n = new long[4];
    for (int i = 0; i < 4; i++) {
      String p = parts[i];
      if (p.isEmpty() || p.length() > 13 || (p.length() > 1 && p.charAt(0) == '0')) {
        throw malformed(text);
      }
      for (int c = 0; c < p.length(); c++) {
        char ch = p.charAt(c);
        if (!(ch >= '0' && ch <= '9' || ch >= 'a' && ch <= 'z')) {
          throw malformed(text);
        }
      }
      try {
        n[i] = Long.parseLong(p, 36);
      } catch (NumberFormatException e) {
        throw malformed(text); // above Long.MAX_VALUE
      }
    }
    if (n[1] > Integer.MAX_VALUE || n[3] < 1 || n[3] > Integer.MAX_VALUE) {
      throw malformed(text);
    }
    return new LeaseId(n[0], (int) n[1], n[2], (int) n[3]);
  }

  private static BrokerException malformed(String text) {
    return new BrokerException(ErrorKind.BAD_REQUEST, "malformed lease id "
        + (text == null ? "null" : "'" + BrokerLimits.abbreviate(text) + "'")
        + ": expected topicId.partition.offset.deliveryCount in base 36, as a lease answer gave it");
  }
}
