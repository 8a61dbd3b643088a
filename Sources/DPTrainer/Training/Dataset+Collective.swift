import DPComm
import DPData
import DPModel
import Foundation

extension Dataset {
    /// The data of a run on every rank. Collective: rank 0 alone reads (and caches) the data, then
    /// broadcasts the tokens and the tokenizer, so only rank 0 touches the file system; a failure
    /// on rank 0 is thrown on every rank (`RankFailure`).
    ///
    /// With a checkpoint (`restore`), its data path and tokenizer are the defaults, and the
    /// tokenizer built from the data must equal the checkpoint's. The seed preset (`seedExample`,
    /// or a checkpoint of the seed model) takes `Dataset.seedExample()` and reads nothing.
    ///
    /// - Parameters:
    ///   - data: the run's data settings: `--data` (nil: the checkpoint's data path, else the
    ///     built-in corpus), `--tokenizer`, `--vocab-size` (nil: the checkpoint's, else the defaults).
    ///   - cacheDirectory: where a text file's tokens are cached (OUT/cache).
    public static func load(
        comm: any Communicator, data: DataConfig, valFraction: Double,
        cacheDirectory: URL, restore: Restore?, seedExample: Bool
    ) throws -> Dataset {
        let (path, tokenizer, vocabSize) = (data.path, data.tokenizer, data.vocabSize)
        if seedExample || (restore != nil && restore?.state.model == ModelConfig.seed) {
            return Dataset.seedExample()
        }
        let restoredTokenizer = try comm.collectively { try restore.map { try Tokenizers.load(json: $0.tokenizerJSON) } }
        let loaded = try comm.collectively { () throws -> Dataset? in
            guard comm.rank == 0 else { return nil }
            let dataset = try Dataset.load(
                path: path ?? restore?.state.dataPath, tokenizer: tokenizer ?? restoredTokenizer?.kind,
                vocabSize: vocabSize ?? restoredTokenizer.flatMap { $0.kind == .bpe || $0.kind == .word ? $0.vocabSize : nil },
                valFraction: valFraction, cacheDirectory: cacheDirectory)
            if let restore, try normalizedJSON(dataset.tokenizer.jsonData()) != normalizedJSON(restore.tokenizerJSON) {
                throw ConfigError("the tokenizer built from the data differs from the checkpoint's (\(restore.directory)); resume with the data and --tokenizer the run was started with.")
            }
            return dataset
        }
        return try broadcast(loaded, comm: comm)
    }

    /// Sends rank 0's dataset (tokens and tokenizer JSON) to every rank.
    private static func broadcast(_ dataset: Dataset?, comm: any Communicator) throws -> Dataset {
        guard comm.size > 1 else { return dataset! }
        let tokenizerJSON = try comm.broadcast(bytes: try dataset.map { [UInt8](try $0.tokenizer.jsonData()) } ?? [], root: 0)
        let summary = try comm.broadcast(string: dataset?.summary ?? "", root: 0)
        func send(_ tokens: TokenSequence?) throws -> TokenSequence {
            var count = [Int64(tokens?.count ?? 0)]
            try count.withUnsafeMutableBufferPointer { try comm.broadcast($0, root: 0) }
            var values = tokens.map { sequence in (0..<sequence.count).map { sequence[$0] } } ?? [Int32](repeating: 0, count: Int(count[0]))
            try values.withUnsafeMutableBufferPointer { try comm.broadcast($0, root: 0) }
            return TokenSequence(values)
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
