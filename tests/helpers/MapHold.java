// Maps a file read-only with Java NIO (FileChannel.map, a shared mapping, as
// htsjdk, BLAST readers and other Java tools use) and holds it across a
// change of policy (mmap tests).
//
//     java MapHold.java FILE FLAG
//
// Prints "mapped N" (the sum of all bytes), waits until FLAG exists, touches
// the first byte again and prints "touched"; a revoked mapping faults, which
// the JVM reports as an InternalError: it prints "fault" then.
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

public class MapHold {
    public static void main(String[] args) throws Exception {
        MappedByteBuffer m;
        try (FileChannel ch = FileChannel.open(Path.of(args[0]), StandardOpenOption.READ)) {
            m = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size());
        }
        long sum = 0;
        for (int i = 0; i < m.limit(); i++)
            sum += m.get(i) & 0xff;
        System.out.println("mapped " + sum);
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (!Files.exists(Path.of(args[1])) && System.nanoTime() < deadline)
            Thread.sleep(10);
        try {
            System.out.println("touched " + (m.get(0) & 0xff));
        } catch (InternalError e) {
            System.out.println("fault");
        }
    }
}
