package io.dsync.raft.transport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.dsync.raft.Entry;
import io.dsync.raft.RaftMessage;
import io.dsync.raft.RaftMessage.AppendEntries;
import io.dsync.raft.RaftMessage.RequestVote;
import io.dsync.raft.RaftMessage.RequestVoteResponse;
import io.dsync.raft.proto.EntryType;
import io.dsync.raft.transport.InMemoryNetwork.Envelope;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class InMemoryNetworkTest {
  private static RequestVote vote(String from, String to, long term) {
    return new RequestVote(from, to, term, 0, 0);
  }

  @Test
  void nothingMovesUntilTheDriverDeliversAndThenInSendOrder() {
    InMemoryNetwork net = new InMemoryNetwork();
    InMemoryTransport a = net.join("a");
    InMemoryTransport b = net.join("b");
    List<RaftMessage> atB = new ArrayList<>();
    b.onReceive(atB::add);
    a.send(vote("a", "b", 1));
    a.send(vote("a", "b", 2));
    assertTrue(atB.isEmpty());
    assertEquals(List.of(1L, 2L), net.pending().stream().map(Envelope::seq).toList());
    assertEquals(2, net.deliverAll());
    assertEquals(List.of(vote("a", "b", 1), vote("a", "b", 2)), atB);
    assertEquals(0, net.pendingCount());
    assertEquals(2, net.deliveredCount());
  }

  @Test
  void aReceiverThatRepliesMakesItsReplyPendingNotDeliveredRecursively() {
    InMemoryNetwork net = new InMemoryNetwork();
    InMemoryTransport a = net.join("a");
    InMemoryTransport b = net.join("b");
    List<RaftMessage> atA = new ArrayList<>();
    a.onReceive(atA::add);
    b.onReceive(m -> b.send(new RequestVoteResponse("b", m.from(), m.term(), true)));
    a.send(vote("a", "b", 3));
    assertEquals(1, net.deliverAll());
    assertTrue(atA.isEmpty());
    assertEquals(1, net.pendingCount());
    net.deliverAll();
    assertEquals(List.of(new RequestVoteResponse("b", "a", 3, true)), atA);
  }

  @Test
  void theDriverDropsDuplicatesAndReorders() {
    InMemoryNetwork net = new InMemoryNetwork();
    InMemoryTransport a = net.join("a");
    InMemoryTransport b = net.join("b");
    List<Long> terms = new ArrayList<>();
    b.onReceive(m -> terms.add(m.term()));
    for (int t = 1; t <= 3; t++) {
      a.send(vote("a", "b", t));
    }
    List<Envelope> p = net.pending();
    assertTrue(net.deliver(p.get(2))); // reorder: 3 first
    assertTrue(net.drop(p.get(0))); // lose 1
    Envelope copy = net.duplicate(p.get(2)); // 3 again
    assertTrue(net.deliver(p.get(1)));
    assertTrue(net.deliver(copy));
    assertFalse(net.deliver(p.get(0)), "a dropped envelope is gone");
    assertFalse(net.deliver(p.get(2)), "a delivered envelope is gone");
    assertEquals(List.of(3L, 2L, 3L), terms);
    assertEquals(1, net.droppedCount());
  }

  @Test
  void partitionsDropAtSendAndInFlight() {
    InMemoryNetwork net = new InMemoryNetwork();
    InMemoryTransport a = net.join("a");
    InMemoryTransport b = net.join("b");
    InMemoryTransport c = net.join("c");
    List<RaftMessage> got = new ArrayList<>();
    a.onReceive(got::add);
    b.onReceive(got::add);
    c.onReceive(got::add);

    a.send(vote("a", "b", 1)); // in flight when the link breaks
    net.block("a", "b");
    a.send(vote("a", "b", 2)); // lost at send
    b.send(vote("b", "a", 3)); // the other direction still works
    assertEquals(2, net.pendingCount());
    assertEquals(1, net.deliverAll());
    assertEquals(List.of(vote("b", "a", 3)), got);

    net.unblock("a", "b");
    net.isolate("c");
    a.send(vote("a", "c", 4));
    c.send(vote("c", "b", 5));
    a.send(vote("a", "b", 6));
    assertTrue(net.isBlocked("a", "c") && net.isBlocked("c", "b"));
    net.deliverAll();
    assertEquals(vote("a", "b", 6), got.getLast());
    net.healAll();
    a.send(vote("a", "c", 7));
    net.deliverAll();
    assertEquals(vote("a", "c", 7), got.getLast());
    assertEquals(3, got.size());
  }

  @Test
  void aClosedNodeLosesItsMessagesInFlightAndCanRejoin() {
    InMemoryNetwork net = new InMemoryNetwork();
    InMemoryTransport a = net.join("a");
    InMemoryTransport b = net.join("b");
    b.onReceive(m -> {});
    a.onReceive(m -> {});
    a.send(vote("a", "b", 1));
    b.send(vote("b", "a", 2));
    assertThrows(IllegalStateException.class, () -> net.join("b"));
    b.close();
    b.close();
    assertEquals(0, net.pendingCount(), "messages to and from the crashed node are gone");
    b.send(vote("b", "a", 3)); // a closed transport sends nothing
    a.send(vote("a", "b", 4)); // b is not on the network: lost at delivery
    assertEquals(0, net.deliverAll());

    InMemoryTransport b2 = net.join("b");
    List<RaftMessage> got = new ArrayList<>();
    b2.onReceive(got::add);
    a.send(vote("a", "b", 5));
    net.deliverAll();
    assertEquals(List.of(vote("a", "b", 5)), got);
  }

  @Test
  void throughCodecHandsReceiversADecodedCopy() {
    InMemoryNetwork net = new InMemoryNetwork(true);
    InMemoryTransport a = net.join("a");
    InMemoryTransport b = net.join("b");
    List<RaftMessage> got = new ArrayList<>();
    b.onReceive(got::add);
    AppendEntries sent = new AppendEntries("a", "b", 2, 0, 0,
        List.of(new Entry(1, 2, EntryType.ENTRY_NORMAL, 99, new byte[] {1, 2, 3})), 0);
    a.send(sent);
    net.deliverAll();
    AppendEntries received = (AppendEntries) got.getFirst();
    assertNotSame(sent.entries().getFirst().data(), received.entries().getFirst().data());
    assertArrayEquals(new byte[] {1, 2, 3}, received.entries().getFirst().data());
    WireCodecTest.assertSameMessage(sent, received);
  }

  @Test
  void aMessageClaimingAnotherSenderIsABug() {
    InMemoryNetwork net = new InMemoryNetwork();
    InMemoryTransport a = net.join("a");
    assertThrows(IllegalArgumentException.class, () -> a.send(vote("b", "a", 1)));
  }
}
