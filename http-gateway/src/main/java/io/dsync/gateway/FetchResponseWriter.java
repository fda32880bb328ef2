package io.dsync.gateway;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.SerializableString;
import com.fasterxml.jackson.core.util.ByteArrayBuilder;
import io.dsync.broker.Model.FetchResult;
import io.dsync.broker.Model.FetchedRecord;
import io.dsync.broker.Model.Header;
import io.dsync.broker.Model.LeasedRecord;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Writes the answers that carry records — a fetch ({@code {"records":[...],"next_offset",
 * "high_watermark"}}) and a lease ({@code {"records":[...]}}) — straight to JSON bytes with
 * Jackson's streaming generator. A record's JSON value is copied into the output as the bytes it
 * was stored as — no decoding to a {@code String} and encoding again, which was most of a fetch's
 * cost. Both answers render a record's key, value ({@code value}, or {@code value_base64} for
 * bytes), headers, priority and timestamp with the same code. Stateless and thread-safe.
 */
final class FetchResponseWriter {
  private FetchResponseWriter() {}

  /**
   * @param f the fetch result
   * @return the UTF-8 JSON body
   * @throws IOException never in practice (in-memory output)
   */
  static byte[] write(FetchResult f) throws IOException {
    int estimate = 64;
    for (FetchedRecord r : f.records()) {
      estimate += r.value().length + 96;
    }
    try (ByteArrayBuilder out = new ByteArrayBuilder(estimate);
        JsonGenerator g = HttpApi.JSON.getFactory().createGenerator(out, JsonEncoding.UTF8)) {
      g.writeStartObject();
      g.writeArrayFieldStart("records");
      for (FetchedRecord r : f.records()) {
        g.writeStartObject();
        g.writeNumberField("offset", r.offset());
        writeRecord(g, r);
        g.writeEndObject();
      }
      g.writeEndArray();
      g.writeNumberField("next_offset", f.nextOffset());
      g.writeNumberField("high_watermark", f.highWatermark());
      g.writeEndObject();
      g.flush();
      return out.toByteArray();
    }
  }

  /**
   * @param leased the leased records, in lease order
   * @return the UTF-8 JSON body of a lease answer: each record with {@code lease_id},
   *     {@code partition}, {@code offset}, the record's fields as a fetch writes them,
   *     {@code delivery_count} and {@code lease_expires_ms}
   * @throws IOException never in practice (in-memory output)
   */
  static byte[] write(List<LeasedRecord> leased) throws IOException {
    int estimate = 32;
    for (LeasedRecord l : leased) {
      estimate += l.record().value().length + 160;
    }
    try (ByteArrayBuilder out = new ByteArrayBuilder(estimate);
        JsonGenerator g = HttpApi.JSON.getFactory().createGenerator(out, JsonEncoding.UTF8)) {
      g.writeStartObject();
      g.writeArrayFieldStart("records");
      for (LeasedRecord l : leased) {
        g.writeStartObject();
        g.writeStringField("lease_id", l.leaseId());
        g.writeNumberField("partition", l.partition());
        g.writeNumberField("offset", l.record().offset());
        writeRecord(g, l.record());
        g.writeNumberField("delivery_count", l.deliveryCount());
        g.writeNumberField("lease_expires_ms", l.leaseExpiresMs());
        g.writeEndObject();
      }
      g.writeEndArray();
      g.writeEndObject();
      g.flush();
      return out.toByteArray();
    }
  }

  /** Writes a record's key, value, headers, priority and timestamp into the open object. */
  private static void writeRecord(JsonGenerator g, FetchedRecord r) throws IOException {
    if (r.key() != null) {
      g.writeStringField("key", r.key());
    }
    if (r.binary()) {
      g.writeFieldName("value_base64");
      g.writeBinary(r.value());
    } else {
      g.writeFieldName("value");
      g.writeRawValue(new RawUtf8(r.value()));
    }
    if (!r.headers().isEmpty()) {
      g.writeObjectFieldStart("headers");
      for (Header h : r.headers()) {
        g.writeStringField(h.key(), h.value());
      }
      g.writeEndObject();
    }
    g.writeNumberField("priority", r.priority());
    g.writeNumberField("timestamp_ms", r.timestampMs());
  }

  /** JSON text already encoded as UTF-8, written as is (only the unquoted UTF-8 forms are used). */
  private static final class RawUtf8 implements SerializableString {
    private final byte[] utf8;

    RawUtf8(byte[] utf8) {
      this.utf8 = utf8;
    }

    @Override
    public String getValue() {
      return new String(utf8, StandardCharsets.UTF_8);
    }

    @Override
    public int charLength() {
      return getValue().length();
    }

    @Override
    public char[] asQuotedChars() {
      throw new UnsupportedOperationException("raw JSON is never quoted");
    }

    @Override
    public byte[] asUnquotedUTF8() {
      return utf8;
    }

    @Override
    public byte[] asQuotedUTF8() {
      throw new UnsupportedOperationException("raw JSON is never quoted");
    }

    @Override
    public int appendQuotedUTF8(byte[] buffer, int offset) {
      throw new UnsupportedOperationException("raw JSON is never quoted");
    }

    @Override
    public int appendQuoted(char[] buffer, int offset) {
      throw new UnsupportedOperationException("raw JSON is never quoted");
    }

    @Override
    public int appendUnquotedUTF8(byte[] buffer, int offset) {
      if (offset + utf8.length > buffer.length) {
        return -1; // the generator then writes asUnquotedUTF8() itself
      }
      System.arraycopy(utf8, 0, buffer, offset, utf8.length);
      return utf8.length;
    }

    @Override
    public int appendUnquoted(char[] buffer, int offset) {
      String s = getValue();
      if (offset + s.length() > buffer.length) {
        return -1;
      }
      s.getChars(0, s.length(), buffer, offset);
      return s.length();
    }

    @Override
    public int writeQuotedUTF8(OutputStream out) {
      throw new UnsupportedOperationException("raw JSON is never quoted");
    }

    @Override
    public int writeUnquotedUTF8(OutputStream out) throws IOException {
      out.write(utf8);
      return utf8.length;
    }

    @Override
    public int putQuotedUTF8(ByteBuffer buffer) {
      throw new UnsupportedOperationException("raw JSON is never quoted");
    }

    @Override
    public int putUnquotedUTF8(ByteBuffer buffer) {
      if (buffer.remaining() < utf8.length) {
        return -1;
      }
      buffer.put(utf8);
      return utf8.length;
    }
  }
}
