package io.dsync.raft.story;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One story script and its interpreter, in the style of etcd's {@code datadriven} tests.
 *
 * <p>Format, line by line:
 *
 * <ul>
 *   <li>{@code # ...} and blank lines are commentary; a command may end with {@code  # ...} too;
 *   <li>any other line is a command, {@code name arg...} (see {@link StoryCluster});
 *   <li>a command followed by a line {@code ----} expects output: the lines after it, up to the
 *       next blank line or the end of the file, must equal what the command printed, exactly. A
 *       command without {@code ----} runs silently, but an error it reports fails the story.
 * </ul>
 *
 * <p>With {@code rewrite} the expected blocks are replaced by the actual output and the file is
 * written back (golden files); commentary and commands are kept as they are.
 *
 * <p>Not thread-safe.
 */
final class Story {
  /** One command line and its expected block, if any. */
  private record Directive(int line, String command, List<String> args, boolean expectsOutput, int blockFrom,
      int blockTo) {}

  private final Path file;
  private final List<String> lines;
  private final List<Directive> directives = new ArrayList<>();

  private Story(Path file, List<String> lines) {
    this.file = file;
    this.lines = lines;
    parse();
  }

  /** @throws IOException if the script cannot be read */
  static Story load(Path file) throws IOException {
    return new Story(file, Files.readAllLines(file, StandardCharsets.UTF_8));
  }

  private void parse() {
    int i = 0;
    while (i < lines.size()) {
      String raw = lines.get(i);
      String text = stripComment(raw).strip();
      if (text.isEmpty()) {
        i++;
        continue;
      }
      if (text.equals("----")) {
        throw new AssertionError(where(i) + ": `----` without a command above it");
      }
      List<String> words = new ArrayList<>(Arrays.asList(text.split("\\s+")));
      String name = words.remove(0);
      if (i + 1 < lines.size() && lines.get(i + 1).strip().equals("----")) {
        int from = i + 2;
        int to = from;
        while (to < lines.size() && !lines.get(to).isBlank()) {
          to++;
        }
        directives.add(new Directive(i, name, words, true, from, to));
        i = to;
      } else {
        directives.add(new Directive(i, name, words, false, -1, -1));
        i++;
      }
    }
  }

  private static String stripComment(String line) {
    if (line.stripLeading().startsWith("#")) {
      return "";
    }
    int hash = line.indexOf(" #");
    return hash >= 0 ? line.substring(0, hash) : line;
  }

  private String where(int lineIndex) {
    return file.getFileName() + ":" + (lineIndex + 1);
  }

  /**
   * Runs every command in order against a fresh world.
   *
   * @param rewrite replace each expected block by the actual output and write the file back,
   *     instead of failing on a difference
   * @return whether the file was rewritten with other contents
   * @throws AssertionError naming the script and line on a mismatch (unless rewriting), a script
   *     error, an unexpected refusal, or a broken safety invariant
   */
  boolean run(boolean rewrite) throws IOException {
    StoryCluster cluster = null;
    List<String> rewritten = new ArrayList<>();
    int copiedUpTo = 0;
    for (Directive d : directives) {
      String cmd = d.command + (d.args.isEmpty() ? "" : " " + String.join(" ", d.args));
      List<String> actual;
      try {
        if (d.command.equals("cluster")) {
          cluster = StoryCluster.create(d.args);
          actual = List.of();
        } else if (cluster == null) {
          throw new StoryCluster.ScriptError("the first command must be `cluster`");
        } else {
          actual = cluster.execute(d.command, d.args);
        }
      } catch (StoryCluster.Refused e) {
        if (!d.expectsOutput) {
          throw new AssertionError(where(d.line) + ": `" + cmd + "` was refused: " + e.getMessage()
              + " (expect it with a ---- block if that is the story)");
        }
        actual = List.of("error: " + e.getMessage());
      } catch (StoryCluster.ScriptError e) {
        throw new AssertionError(where(d.line) + ": `" + cmd + "`: " + e.getMessage());
      } catch (AssertionError | RuntimeException e) {
        throw new AssertionError(where(d.line) + ": `" + cmd + "` failed: " + e.getMessage() + "\n" + stack(e), e);
      }
      if (!d.expectsOutput) {
        continue;
      }
      List<String> expected = lines.subList(d.blockFrom, d.blockTo);
      if (rewrite) {
        rewritten.addAll(lines.subList(copiedUpTo, d.blockFrom));
        rewritten.addAll(actual);
        copiedUpTo = d.blockTo;
      } else if (!expected.equals(actual)) {
        throw new AssertionError(where(d.line) + ": `" + cmd + "` printed something else (-expected +actual):\n"
            + diff(expected, actual) + "(to accept the new output: -Dstory.rewrite=true)");
      }
    }
    if (!rewrite) {
      return false;
    }
    rewritten.addAll(lines.subList(copiedUpTo, lines.size()));
    if (rewritten.equals(lines)) {
      return false;
    }
    Files.writeString(file, String.join("\n", rewritten) + "\n", StandardCharsets.UTF_8);
    return true;
  }

  private static String stack(Throwable e) {
    StringWriter w = new StringWriter();
    e.printStackTrace(new PrintWriter(w));
    return w.toString();
  }

  /** A line diff (longest common subsequence): {@code ' '} kept, {@code '-'} expected only, {@code '+'} actual only. */
  static String diff(List<String> expected, List<String> actual) {
    int n = expected.size();
    int m = actual.size();
    int[][] lcs = new int[n + 1][m + 1];
    for (int i = n - 1; i >= 0; i--) {
      for (int j = m - 1; j >= 0; j--) {
        lcs[i][j] = expected.get(i).equals(actual.get(j)) ? lcs[i + 1][j + 1] + 1
            : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
      }
    }
    StringBuilder b = new StringBuilder();
    int i = 0;
    int j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && expected.get(i).equals(actual.get(j))) {
        b.append("   ").append(expected.get(i++)).append('\n');
        j++;
      } else if (i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1])) {
        b.append(" - ").append(expected.get(i++)).append('\n');
      } else {
        b.append(" + ").append(actual.get(j++)).append('\n');
      }
    }
    return b.toString();
  }
}
