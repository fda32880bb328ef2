package io.dsync.raft.transport;

import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Grpc;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.function.BiConsumer;
import java.util.regex.Pattern;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Peer authentication with a shared cluster secret: every call carries {@code dsync-from} (the
 * caller's node id) and {@code dsync-auth} = lowercase hex of HMAC-SHA256(secret, UTF-8 bytes of
 * the node id). The secret itself never crosses the network. See {@link GrpcTransport} for the
 * threat model.
 *
 * <p>Thread-safe: the secret is immutable and a fresh {@link Mac} is made per computation.
 */
final class PeerAuth {
  /** Header with the caller's node id. */
  static final Metadata.Key<String> FROM_HEADER =
      Metadata.Key.of("dsync-from", Metadata.ASCII_STRING_MARSHALLER);

  /** Header with the proof, 64 lowercase hex characters. */
  static final Metadata.Key<String> AUTH_HEADER =
      Metadata.Key.of("dsync-auth", Metadata.ASCII_STRING_MARSHALLER);

  /** The authenticated caller's node id, set by {@link #interceptor} for the call's handler. */
  static final Context.Key<String> AUTHENTICATED_PEER = Context.key("dsync-authenticated-peer");

  /** Node ids as {@link io.dsync.raft.RaftConfig} accepts them. */
  static final Pattern NODE_ID = Pattern.compile("[A-Za-z0-9_.-]{1,64}");

  /** The fewest secret bytes accepted (128 bits). */
  static final int MIN_SECRET_BYTES = 16;

  private final SecretKeySpec key;

  /**
   * @param secret the cluster secret, at least {@link #MIN_SECRET_BYTES} bytes; copied
   * @throws IllegalArgumentException if the secret is shorter
   */
  PeerAuth(byte[] secret) {
    if (secret == null || secret.length < MIN_SECRET_BYTES) {
      throw new IllegalArgumentException(
          "the cluster secret must have at least " + MIN_SECRET_BYTES + " bytes");
    }
    this.key = new SecretKeySpec(secret.clone(), "HmacSHA256");
  }

  /** @return the raw proof bytes for {@code nodeId} */
  private byte[] proofBytes(String nodeId) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(key);
      return mac.doFinal(nodeId.getBytes(StandardCharsets.UTF_8));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("HmacSHA256 unavailable", e); // every JDK has it
    }
  }

  /** @return the headers a call from {@code nodeId} carries */
  Metadata headersFor(String nodeId) {
    Metadata headers = new Metadata();
    headers.put(FROM_HEADER, nodeId);
    headers.put(AUTH_HEADER, HexFormat.of().formatHex(proofBytes(nodeId)));
    return headers;
  }

  /**
   * @return whether {@code proofHex} proves knowledge of the secret for {@code nodeId}, compared
   *     in constant time
   */
  boolean verify(String nodeId, String proofHex) {
    if (nodeId == null || proofHex == null || !NODE_ID.matcher(nodeId).matches()) {
      return false;
    }
    byte[] given;
    try {
      given = HexFormat.of().parseHex(proofHex);
    } catch (IllegalArgumentException e) {
      return false;
    }
    return MessageDigest.isEqual(proofBytes(nodeId), given);
  }

  /**
   * A server interceptor that closes every call without a valid proof with
   * {@link Status#UNAUTHENTICATED} and otherwise exposes the caller's id as
   * {@link #AUTHENTICATED_PEER} to the handler.
   *
   * @param onRefusal told (claimed node id or null, remote address) for every refused call;
   *     must not block
   */
  ServerInterceptor interceptor(BiConsumer<String, String> onRefusal) {
    return new ServerInterceptor() {
      @Override
      public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
          ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
        String from = headers.get(FROM_HEADER);
        if (!verify(from, headers.get(AUTH_HEADER))) {
          onRefusal.accept(
              from, String.valueOf(call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR)));
          call.close(
              Status.UNAUTHENTICATED.withDescription("bad or missing cluster credentials"),
              new Metadata());
          return new ServerCall.Listener<>() {};
        }
        return Contexts.interceptCall(
            Context.current().withValue(AUTHENTICATED_PEER, from), call, headers, next);
      }
    };
  }
}
