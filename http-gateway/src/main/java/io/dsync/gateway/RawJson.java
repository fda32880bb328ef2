package io.dsync.gateway;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.util.ByteArrayBuilder;
import com.fasterxml.jackson.databind.DeserializationContext;
import com.fasterxml.jackson.databind.JsonDeserializer;
import com.fasterxml.jackson.databind.annotation.JsonDeserialize;
import java.io.IOException;

/**
 * Any JSON value, kept as its UTF-8 text (compact form), so that a record's value goes from the
 * request into the log without building a tree and serializing it again.
 *
 * @param utf8 the value's JSON text; {@code null} JSON is the four bytes {@code null}
 */
@JsonDeserialize(using = RawJson.Deserializer.class)
record RawJson(byte[] utf8) {
  private static final byte[] NULL = {'n', 'u', 'l', 'l'};

  /**
   * The attribute under which a reader may pass the request body (a {@code byte[]}) that it
   * parses, so that string values are sliced from it instead of decoded and written again.
   */
  static final Object SOURCE = RawJson.class;

  /** Copies the current JSON value of the parser, whatever its type, as compact JSON text. */
  static final class Deserializer extends JsonDeserializer<RawJson> {
    @Override
    public RawJson deserialize(JsonParser p, DeserializationContext ctxt) throws IOException {
      if (p.currentToken() == JsonToken.VALUE_STRING && ctxt.getAttribute(SOURCE) instanceof byte[] src) {
        // The common case, a string value: slice its bytes, quotes included, straight out of the
        // request body. finishToken() decodes the string (validating its UTF-8 and escapes) and
        // moves the parser's location past the closing quote.
        long start = p.currentTokenLocation().getByteOffset();
        p.finishToken();
        long end = p.currentLocation().getByteOffset();
        if (start >= 0 && end > start + 1 && end <= src.length && src[(int) start] == '"' && src[(int) end - 1] == '"') {
          return new RawJson(java.util.Arrays.copyOfRange(src, (int) start, (int) end));
        }
      }
      try (ByteArrayBuilder out = new ByteArrayBuilder(256);
          JsonGenerator g = p.getCodec().getFactory().createGenerator(out)) {
        // Token by token with copyCurrentEventExact, so decimals keep their exact value
        // (copyCurrentStructure would round them through double).
        int depth = 0;
        JsonToken t = p.currentToken();
        while (true) {
          g.copyCurrentEventExact(p);
          if (t.isStructStart()) {
            depth++;
          } else if (t.isStructEnd()) {
            depth--;
          }
          if (depth == 0) {
            break;
          }
          t = p.nextToken();
        }
        g.flush();
        return new RawJson(out.toByteArray());
      }
    }

    /** An explicit JSON {@code null} is a value like any other. */
    @Override
    public RawJson getNullValue(DeserializationContext ctxt) {
      return new RawJson(NULL);
    }

    /** A missing value stays missing ({@code null}), so it can be refused. */
    @Override
    public Object getAbsentValue(DeserializationContext ctxt) {
      return null;
    }
  }
}
