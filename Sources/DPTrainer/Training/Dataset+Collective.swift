import DPComm
import DPData
import DPModel
import Foundation

extension Dataset {
    /// The data of a run on every rank. Collective; a failure on any rank is thrown on every rank
    /// (`RankFailure`) with that rank's one sentence.
    ///
    /// Every rank maps the token files itself and reads only the windows its sampler hands it, so
    /// a rank holds the mappings, not the tokens (DESIGN.md §4):
    /// 1. rank 0 finds the files (`Dataset.dataFiles`; a text file or the built-in corpus it first
    ///    tokenizes into the cache) and tells the others their paths;
    /// 2. every rank lists `--data` itself and maps every file, checking its header; a shard
    ///    missing on a rank, or seen by it and not by rank 0, or whose size or cheap checksum
    ///    differs from rank 0's copy, is one sentence naming the shard and that rank's host;
    /// 3. the ranks share the O(tokens) check that every token is below the vocabulary: rank r
    ///    reads files r, r + W, ….
    /// The token cache of a text file is dptrain's own, under OUT: when another rank cannot see
    /// rank 0's copy (OUT not on a shared file system), rank 0 broadcasts its tokens instead, as
    /// with `data.fromRank0`, which always does that.
    ///
    /// With a checkpoint (`restore`), its data path and tokenizer are the defaults, and the
    /// tokenizer of the data must equal the checkpoint's. The seed preset (`seedExample`, or a
    /// checkpoint of the seed model) takes `Dataset.seedExample()` and reads nothing.
    ///
    /// - Parameters:
    ///   - data: the run's data settings: `--data` (nil: the checkpoint's data path, else the
    ///     built-in corpus), `--tokenizer`, `--vocab-size` (nil: the checkpoint's, else the
    ///     defaults), `--data-from-rank0`.
    ///   - cacheDirectory: where a text file's tokens are cached (OUT/cache).
    ///   - initFrom: the checkpoint a new run starts from (`--init-from`): a text is encoded with
    ///     its tokenizer, and a prepared directory's or shards' tokenizer must equal it.
    public static func load(
        comm: any Communicator, data: DataConfig, valFraction: Double,
        cacheDirectory: URL, restore: Restore?, seedExample: Bool, initFrom: Restore? = nil
    ) throws -> Dataset {
        if seedExample || (restore != nil && restore?.state.model == ModelConfig.seed) {
            return Dataset.seedExample()
        }
        let restoredTokenizer = try comm.collectively { try restore.map { try Tokenizers.load(json: $0.tokenizerJSON) } }
        let path = data.path ?? restore?.state.dataPath
        let kind = data.tokenizer ?? restoredTokenizer?.kind
        let vocabSize = data.vocabSize ?? restoredTokenizer.flatMap { $0.kind == .bpe || $0.kind == .word ? $0.withoutMask.vocabSize : nil }
        // An encoder's checkpoint holds the data's tokenizer with [MASK] added; the data has it without.
        let restoredJSON = try restoredTokenizer.map { try $0.withoutMask.jsonData() }
        // A Hugging Face tokenizer cannot be trained again from the text: the checkpoint's own tokenizes it.
        let fixed = data.tokenizer == nil ? restoredTokenizer.flatMap { $0.kind == .huggingface ? $0.withoutMask : nil } : nil
        // --init-from: the checkpoint's tokenizer encodes the text, whatever its kind.
        let initTokenizer = try comm.collectively { try initFrom.map { try Tokenizers.load(json: $0.tokenizerJSON).withoutMask } }
        let given = initTokenizer ?? fixed
        func checkTokenizer(_ tokenizer: any Tokenizer) throws {
            if let restore, let restoredJSON, try normalizedJSON(tokenizer.jsonData()) != normalizedJSON(restoredJSON) {
                throw ConfigError("the tokenizer built from the data differs from the checkpoint's (\(restore.directory)); resume with the data and --tokenizer the run was started with.")
            }
            if let initFrom, let initTokenizer, try normalizedJSON(tokenizer.jsonData()) != normalizedJSON(initTokenizer.jsonData()) {
                throw ConfigError("the data's tokenizer.json differs from the tokenizer of the --init-from checkpoint (\(initFrom.directory)); give --data a text file, which is tokenized with the checkpoint's tokenizer, or token files made with it.")
            }
        }

        if comm.size == 1 || data.fromRank0 {
            let loaded = try comm.collectively { () throws -> Dataset? in
                guard comm.rank == 0 else { return nil }
                let dataset = try Dataset.load(path: path, tokenizer: kind, vocabSize: vocabSize, valFraction: valFraction,
                                               cacheDirectory: cacheDirectory, using: given)
                try checkTokenizer(dataset.tokenizer)
                return dataset
            }
            return try broadcast(loaded, comm: comm)
        }

        // 1. Rank 0 finds (or, for text, makes) the files; the others learn their names.
        let found = try comm.collectively { () throws -> DataFiles? in
            guard comm.rank == 0 else { return nil }
            return try Dataset.dataFiles(path: path, tokenizer: kind, vocabSize: vocabSize, valFraction: valFraction,
                                         cacheDirectory: cacheDirectory, using: given)
        }
        let rank0Files = try JSONDecoder().decode(
            DataFiles.self, from: Data(comm.broadcast(bytes: comm.rank == 0 ? [UInt8](JSONEncoder().encode(found!)) : [], root: 0)))
        let hosts = try comm.allGather(string: comm.hostname)
        let here = "host \(hosts[comm.rank]) (rank \(comm.rank))"
        let remedy = "every rank must see the same token files: copy them to every host at the same path, or use --data-from-rank0"

        // 2. Every rank lists and maps its own copies (the cache: rank 0's) and compares them with rank 0's.
        var mapped: MappedData?
        var files = rank0Files
        let mappedEverywhere = try comm.collectively { () throws -> Bool in
            var failure: String?
            do {
                if !rank0Files.isCache, comm.rank != 0, let path {
                    files = try Self.ownFiles(path: path, like: rank0Files, here: here, rank0: hosts[0], remedy: remedy)
                }
                mapped = try MappedData(files, expecting: kind, vocabSize: files.isCache ? nil : vocabSize)
            } catch let error as DataError {
                // Rank 0's own copy is the reference: its problem is the file's; another rank's, that copy's.
                failure = comm.rank == 0 ? error.description : "\(error.description.trimmingCharacters(in: ["."])) on \(here); \(remedy)."
            } catch {
                failure = String(describing: error)
            }
            // No throw before these two collectives: every rank must reach them.
            var local = [Int64](repeating: -1, count: 2 * rank0Files.all.count)
            for (i, print) in (mapped?.fingerprints ?? []).enumerated() {
                (local[2 * i], local[2 * i + 1]) = (Int64(print.bytes), Int64(bitPattern: print.checksum))
            }
            var reference = local
            try reference.withUnsafeMutableBufferPointer { try comm.broadcast($0, root: 0) }
            if failure == nil, comm.rank != 0, let i = (0..<rank0Files.all.count).first(where: { local[2 * $0...2 * $0 + 1] != reference[2 * $0...2 * $0 + 1] }) {
                let sizes = local[2 * i] == reference[2 * i]
                    ? "the same size (\(local[2 * i]) bytes) but other contents"
                    : "\(local[2 * i]) bytes, rank 0's \(reference[2 * i])"
                failure = "\(files.all[i].path) on \(here) differs from rank 0's copy on host \(hosts[0]) (\(sizes)); \(remedy)."
            }
            let everywhere = try comm.min(Int64(failure == nil ? 1 : 0)) == 1
            if let failure, !files.isCache { throw ConfigError(failure) }
            return everywhere
        }

        // 3. The ranks share the token check; rank 0 compares the tokenizer with the checkpoint's.
        try comm.collectively {
            if let mappedData = mapped, !files.isCache {
                for (i, file) in mappedData.tokenFiles.enumerated() where i % comm.size == comm.rank {
                    try file.checkTokens(below: mappedData.tokenizer.vocabSize)
                }
            }
            if comm.rank == 0 { try checkTokenizer(mapped!.tokenizer) }
        }
        // The token cache that another rank cannot see (or sees another copy of) comes from rank 0.
        guard mappedEverywhere else { return try broadcast(comm.rank == 0 ? mapped!.dataset : nil, comm: comm) }
        return mapped!.dataset
    }

    /// This rank's own listing of `path` (a directory or pattern of shards), which must name the
    /// same files as rank 0's `rank0Files`: a shard missing here, or one here that rank 0 does not
    /// see, is one sentence naming it and this rank's host.
    private static func ownFiles(path: String, like rank0Files: DataFiles, here: String, rank0: String, remedy: String) throws -> DataFiles {
        guard let own = try DataFiles.find(path) else {
            throw ConfigError("\(path) does not exist on \(here), but does on rank 0's host \(rank0); \(remedy).")
        }
        for (mine, theirs) in [(own.train, rank0Files.train), (own.val, rank0Files.val)] {
            let names = Set(mine.map(\.lastPathComponent))
            if let missing = theirs.first(where: { !names.contains($0.lastPathComponent) }) {
                throw ConfigError("The shard \(missing.lastPathComponent) of \(path) is missing on \(here), which rank 0 on host \(rank0) has; \(remedy).")
            }
            let rank0Names = Set(theirs.map(\.lastPathComponent))
            if let extra = mine.first(where: { !rank0Names.contains($0.lastPathComponent) }) {
                throw ConfigError("\(extra.path) is on \(here), but rank 0 on host \(rank0) does not see it; \(remedy).")
            }
        }
        return own
    }

    /// Sends rank 0's dataset (tokens and tokenizer JSON) to every rank.
    private static func broadcast(_ dataset: Dataset?, comm: any Communicator) throws -> Dataset {
        guard comm.size > 1 else { return dataset! }
        let tokenizerJSON = try comm.broadcast(bytes: try dataset.map { [UInt8](try $0.tokenizer.jsonData()) } ?? [], root: 0)
        let summary = try comm.broadcast(string: dataset?.summary ?? "", root: 0)
        /// The tokens and where their shards begin, so that every rank's sampler sees the same shards.
        func send(_ tokens: TokenSequence?) throws -> TokenSequence {
            var shardCount = [Int64(tokens?.shards.count ?? 0)]
            try shardCount.withUnsafeMutableBufferPointer { try comm.broadcast($0, root: 0) }
            var counts = tokens?.shards.map { Int64($0.count) } ?? [Int64](repeating: 0, count: Int(shardCount[0]))
            try counts.withUnsafeMutableBufferPointer { try comm.broadcast($0, root: 0) }
            var values = tokens.map { $0.toArray() } ?? [Int32](repeating: 0, count: Int(counts.reduce(0, +)))
            try values.withUnsafeMutableBufferPointer { try comm.broadcast($0, root: 0) }
            let all = TokenSequence(values)
            var start = 0
            return TokenSequence(shards: counts.map { n in
                defer { start += Int(n) }
                return all.slice(start..<start + Int(n))
            })
        }
        let train = try send(dataset?.train), val = try send(dataset?.val)
        if let dataset { return dataset }
        return Dataset(train: train, val: val, tokenizer: try Tokenizers.load(json: Data(tokenizerJSON)), source: summary)
    }
}

/// JSON re-serialized with sorted keys, for comparing documents.
public func normalizedJSON(_ data: Data) throws -> Data {
    try JSONSerialization.data(withJSONObject: JSONSerialization.jsonObject(with: data), options: [.sortedKeys])
}
