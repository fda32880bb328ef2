package io.dsync.raft.story;

import static org.junit.jupiter.api.Assertions.assertFalse;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * Runs every Raft story under {@code src/test/resources/raft-stories/*.txt}: scripted scenarios
 * with golden output, read like the stories they tell (the style of etcd raft's
 * {@code testdata/*.txt}). The command language is described in that folder's README and on
 * {@link Story} and {@link StoryCluster}.
 *
 * <pre>
 * ./mvnw -o -pl raft-log -am test -Dtest='Story*' -Dsurefire.failIfNoSpecifiedTests=false
 *     [-Dstory=figure8]         run one story (file name without .txt)
 *     [-Dstory.rewrite=true]    write the actual output into the expected blocks (then review the diff)
 * </pre>
 */
class StoryTest {
  /** The scripts in the source tree, so that a rewrite lands where git sees it. */
  private static final Path DIR = Path.of(System.getProperty("story.dir", "src/test/resources/raft-stories"));

  @TestFactory
  Stream<DynamicTest> stories() throws IOException {
    boolean rewrite = Boolean.getBoolean("story.rewrite");
    String only = System.getProperty("story", "");
    List<Path> files;
    try (Stream<Path> s = Files.list(DIR)) {
      files = s.filter(p -> p.getFileName().toString().endsWith(".txt"))
          .filter(p -> only.isEmpty() || p.getFileName().toString().equals(only + ".txt"))
          .sorted()
          .toList();
    }
    assertFalse(files.isEmpty(), "no stories in " + DIR.toAbsolutePath() + (only.isEmpty() ? "" : " named " + only));
    return files.stream().map(f -> DynamicTest.dynamicTest(f.getFileName().toString(), () -> {
      if (Story.load(f).run(rewrite)) {
        System.out.println("rewrote " + f);
      }
    }));
  }
}
