/// The text dptrain trains on when no `--data` is given: about 1.1 MB of short children's stories
/// and dialogues, generated in code from a small hand-written English grammar (`CorpusGrammar`),
/// so it needs no file and is the same, byte for byte, on every machine and every rank.
///
/// Each story keeps its cast (names, kinds of animal, he/she), its object and its place from
/// sentence to sentence, and the dialogues answer each other, so a model has structure to learn
/// beyond word frequencies. About 500 distinct words, hello, world, good and welcome among them; a few
/// dozen distinct characters (letters, digits, punctuation, newline). Generation takes tens of
/// milliseconds in a release build.
public enum BuiltinCorpus {
    /// The corpus holds at least this many UTF-8 bytes (it stops at the end of the story that
    /// crosses it).
    public static let minimumBytes = 1_100_000
    /// The seed of the generator; changing it changes the corpus.
    public static let seed: UInt64 = 20_240_520

    /// The whole corpus. Deterministic: every call, process and platform gives the same text.
    public static func text() -> String {
        var grammar = CorpusGrammar(seed: seed)
        var out = ""
        out.reserveCapacity(minimumBytes + 4096)
        while out.utf8.count < minimumBytes {
            grammar.piece(into: &out)
            out += "\n"
        }
        return out
    }

    /// A short name for summaries.
    public static let name = "built-in corpus"
}
