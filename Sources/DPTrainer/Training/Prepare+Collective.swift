import DPComm
import DPData
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `dptrain prepare` under `mpirun -n N`: the ranks tokenize N byte ranges of the input at once
/// and write shards whose tokens, in name order, are exactly the tokens of a one-process prepare
/// (train.bin then val.bin). Collective; a failure on any rank is thrown on every rank
/// (`RankFailure`) with that rank's one sentence.
///
/// 1. every rank checks the input (the same size everywhere); rank 0 creates `out` and removes
///    an earlier prepare's train.bin, val.bin and `data_*_NNNNNN.bin` there;
/// 2. rank 0 cuts the input into N ranges, each starting at the first safe cut (`TextCut`: where
///    tokenizing the two sides apart gives the tokens of the whole) at or after k·size/N, and
///    tells the others;
/// 3. the tokenizer, the same on every rank and equal to one process's: byte needs none; char is
///    the sorted union of the ranks' scalars; word ranks the sum of the ranks' word counts; bpe is
///    trained once, by rank 0 on the sample one process trains on (`PrepareInput.bpeSample`),
///    and its merges are broadcast;
/// 4. each rank encodes its range into temporary token files in `out`, one per `shardTokens`;
/// 5. the ranks gather their token counts: the first ⌊total·(1 − valFraction)⌋ tokens of the
///    whole are train, as in one process; rank r cuts its file where train ends and into shards
///    of at most `shardTokens` tokens (its files renamed; only the val tokens after a cut inside a
///    file are copied), `data_train_NNNNNN.bin` and `data_val_NNNNNN.bin`
///    numbered on from the shards of ranks 0..<r (`PreparedShards.numbering`, computed alike on
///    every rank from the counts); empty parts write nothing;
/// 6. rank 0 writes tokenizer.json.
///
/// `out` should be one directory that every rank sees (one host, or a shared file system): each
/// rank writes its own shards there. `progress` is called on rank 0 only, with its own range.
public func prepareCollectively(comm: any Communicator, input: URL, tokenizer kind: TokenizerKind, vocabSize: Int?,
                                valFraction: Double, out: URL, shardTokens: Int = PreparedShards.defaultShardTokens,
                                progress: ((PrepareProgress) -> Void)? = nil) throws -> PrepareSummary {
    let clock = ContinuousClock()
    let started = clock.now
    let report = comm.rank == 0 ? progress : nil

    // 1. The input, on every rank; the output directory.
    let source = try comm.collectively { () throws -> PrepareInput in
        guard valFraction >= 0 && valFraction < 1 else {
            throw DataError.invalidArgument("The validation fraction must be at least 0 and below 1; got \(valFraction).")
        }
        try PreparedShards.checkShardTokens(shardTokens)
        let source = try PrepareInput(url: input, kind: kind)
        if comm.rank == 0 { try PreparedShards.makeOutput(out, layout: .shards) }
        return source
    }
    let hosts = try comm.allGather(string: comm.hostname)
    try comm.collectively {
        let sizes = try comm.allGather(string: String(source.size))
        if comm.rank != 0, sizes[comm.rank] != sizes[0] {
            throw DataError.io(path: input.path, reason: "has \(sizes[comm.rank]) bytes on host \(hosts[comm.rank]) (rank \(comm.rank)) but \(sizes[0]) on rank 0's host \(hosts[0]); every rank reads its own range of the input, so it must be the same file everywhere")
        }
        do {
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        } catch {
            throw DataError.io(path: out.path, reason: "cannot create the output directory on host \(hosts[comm.rank]) (\(error.localizedDescription))")
        }
    }

    // 2. The ranges, cut by rank 0.
    var bounds = [Int64](repeating: 0, count: comm.size + 1)
    try comm.collectively {
        if comm.rank == 0 {
            let ranges = try source.ranges(comm.size)
            bounds = ranges.map { Int64($0.lowerBound) } + [Int64(source.size)]
        }
    }
    try bounds.withUnsafeMutableBufferPointer { try comm.broadcast($0, root: 0) }
    let mine = Int(bounds[comm.rank])..<Int(bounds[comm.rank + 1])
    func phase(_ name: String) -> ((Int) -> Void)? {
        report.map { report in { report(PrepareProgress(phase: name, done: $0, total: mine.count)) } }
    }

    // 3. The tokenizer.
    let tokenizer: any Tokenizer
    switch kind {
    case .byte:
        tokenizer = ByteTokenizer()
    case .char:
        let own = try comm.collectively { try source.scalars(in: mine, progress: phase("reading the characters")) }
        let all = try comm.allGather(string: String(String.UnicodeScalarView(own.sorted().map { Unicode.Scalar($0)! })))
        var union = Set<UInt32>()
        for part in all { for s in part.unicodeScalars { union.insert(s.value) } }
        tokenizer = CharTokenizer(scalars: union.sorted().map { Unicode.Scalar($0)! })
    case .word:
        // The words as their bytes, not as Strings: Swift's String equality is canonical
        // equivalence, so "é" and "e\u{301}" would be one key.
        struct Counts: Codable { let words: [[UInt8]], counts: [Int] }
        let own = try comm.collectively { () throws -> String in
            let counts = try source.wordCounts(in: mine, progress: phase("counting the words"))
            return String(decoding: try JSONEncoder().encode(Counts(words: Array(counts.keys), counts: Array(counts.values))), as: UTF8.self)
        }
        let all = try comm.allGather(string: own)
        tokenizer = try comm.collectively { () throws -> any Tokenizer in
            var total: [[UInt8]: Int] = [:]
            for part in all {
                let decoded = try JSONDecoder().decode(Counts.self, from: Data(part.utf8))
                for (word, n) in zip(decoded.words, decoded.counts) { total[word, default: 0] += n }
            }
            return try WordTokenizer(counts: total, vocabSize: vocabSize)
        }
    case .bpe:
        let trained = try comm.collectively { () throws -> [UInt8] in
            guard comm.rank == 0 else { return [] }
            report?(PrepareProgress(phase: "training bpe on a sample", done: 0, total: mine.count))
            return [UInt8](try BPETokenizer(training: source.bpeSample(), vocabSize: vocabSize ?? Tokenizers.defaultBPEVocabSize).jsonData())
        }
        let json = try comm.broadcast(bytes: trained, root: 0)
        tokenizer = try comm.collectively { try Tokenizers.load(json: Data(json)) }
    case .huggingface:
        throw DataError.invalidArgument(Tokenizers.untrainable)  // PrepareCommand accepts only trainable kinds
    }

    // 4. This rank's range, encoded.
    // In pieces of a shard's size, so that the shards are mostly the pieces renamed.
    let part = out.appendingPathComponent(".\(PreparedShards.stem)-part-\(comm.rank).tmp-\(getpid())")
    let (pieces, count, characters) = try comm.collectively {
        try source.encode(mine, with: tokenizer, into: part, pieceTokens: shardTokens, progress: phase("encoding"))
    }
    defer { for piece in pieces { try? FileManager.default.removeItem(at: piece.url) } }

    // 5. Where each rank's tokens fall in the whole, and so in which split.
    var counts = [Int64](repeating: 0, count: comm.size)
    try [Int64(count)].withUnsafeBufferPointer { local in
        try counts.withUnsafeMutableBufferPointer { try comm.allGather(local, into: $0) }
    }
    let total = Int(counts.reduce(0, +))
    let trainCount = trainTokenCount(total: total, valFraction: valFraction)
    let offset = Int(counts[..<comm.rank].reduce(0, +))
    let shards = try comm.collectively { () throws -> (train: Int, val: Int) in
        let numbering = try PreparedShards.numbering(counts: counts.map { Int($0) }, trainCount: trainCount, shardTokens: shardTokens)
        _ = try PreparedShards.place(pieces, offset: offset, trainCount: trainCount, vocabSize: tokenizer.vocabSize,
                                     shardTokens: shardTokens, first: numbering.first[comm.rank], out: out)
        return numbering.total
    }
    let allCharacters = Int(try comm.sum(Int64(characters)))

    // 6. The tokenizer, once.
    try comm.collectively { if comm.rank == 0 { try writeTokenizerJSON(tokenizer, to: out) } }
    let elapsed = clock.now - started
    return PrepareSummary(
        input: input, out: out, tokenizer: kind, vocabSize: tokenizer.vocabSize, characters: allCharacters, bytes: source.size,
        trainTokens: trainCount, valTokens: total - trainCount, shards: shards, ranks: comm.size,
        seconds: Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
}
