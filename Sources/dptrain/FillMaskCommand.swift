import ArgumentParser
import DPBase
import DPComm
import DPData
import DPModel
import DPTrainer
import Foundation

/// `dptrain fill-mask --checkpoint PATH --prompt "to be or [MASK] to be"`: an encoder's
/// predictions for each [MASK] of a prompt, the most likely tokens with their probabilities.
struct FillMask: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fill-mask",
        abstract: "Predict the [MASK] tokens of a prompt with an encoder checkpoint.",
        discussion: """
            An encoder (dptrain --architecture encoder) is trained as BERT is: 15% of the positions \
            of every window are chosen, most of them replaced by the [MASK] token its tokenizer \
            adds, and the loss asks for the original token at each. fill-mask runs the model once \
            on --prompt, where every literal [MASK] is that token, and prints for each [MASK] the \
            --top-k most likely tokens with their probabilities softmax(logits) at its position — \
            every position sees the whole prompt, before and after it. The prompt must fit the \
            model's context. Runs as one process.
            """)

    @Option(help: ArgumentHelp(
        "An encoder checkpoint: a checkpoint directory, OUT/checkpoints, or a run's --out directory (then the checkpoint LATEST names).",
        valueName: "path"))
    var checkpoint: String

    @Option(help: "The text with one or more [MASK] where a token is to be predicted.")
    var prompt: String

    @Option(parsing: .unconditional, help: ArgumentHelp("How many of the most likely tokens to print for each [MASK].", valueName: "k"))
    var topK = 5

    @Flag(help: "Print one JSON object (checkpoint, step, prompt, masks: [{position, predictions: [{token, text, probability}]}]) instead of the text.")
    var json = false

    func validate() throws {
        if !prompt.contains(MaskTokenizer.text) {
            throw ValidationError("--prompt holds no \(MaskTokenizer.text); write \(MaskTokenizer.text) where a token is to be predicted, e.g. --prompt \"to be or \(MaskTokenizer.text) to be\".")
        }
        if topK < 1 || topK > 1 << 24 {
            throw ValidationError("--top-k must be at least 1, not \(topK).")
        }
    }

    func run() throws {
        guard Launcher.rank(environment: ProcessInfo.processInfo.environment) == 0 else { return }
        do {
            try fill()
        } catch let error as ConfigError {
            printError("dptrain: error: \(error)")
            throw ExitCode(64)
        } catch let error as CheckpointError {
            printError("dptrain: error: \(error)" + (error.problem.hasSuffix(".") ? "" : "."))
            throw ExitCode.failure
        }
    }

    private func fill() throws {
        let url = URL(fileURLWithPath: checkpoint)
        let restore = try Restore.read(path: url, out: url)
        let config = restore.state.model
        guard config.architecture == .encoder else {
            throw ConfigError("\(restore.directory) holds a decoder, which predicts the next token rather than masked ones; fill-mask needs a checkpoint trained with --architecture encoder (for a decoder use dptrain sample).")
        }
        let tokenizer = try Tokenizers.load(json: restore.tokenizerJSON)
        guard let mask = tokenizer.maskToken else {
            throw ConfigError("\(restore.directory)'s tokenizer has no [MASK] token, which an encoder checkpoint records as \"mask_token\".")
        }
        let tokens = try Sample.encode(prompt: prompt, tokenizer)
        guard tokens.count <= config.context else {
            throw ConfigError("--prompt is \(tokens.count) tokens, longer than the model's context of \(config.context); shorten it.")
        }
        let model = try restore.makeModel(maxBatch: 1)
        let V = config.vocabSize
        let logits = tokens.withUnsafeBufferPointer { model.forwardAllLogits(tokens: $0, batch: 1, time: tokens.count) }
        let k = min(topK, V)
        let masks = tokens.indices.filter { tokens[$0] == mask }.map { t -> (position: Int, top: [(token: Int, probability: Double)]) in
            // P = softmax(logits[t]) in Double, then the k largest (ties: the lower id first).
            let row = (0..<V).map { Double(logits[t * V + $0]) }
            let largest = row.max()!
            let exps = row.map { exp($0 - largest) }
            let total = exps.reduce(0, +)
            let top = (0..<V).sorted { exps[$0] != exps[$1] ? exps[$0] > exps[$1] : $0 < $1 }.prefix(k)
            return (t, top.map { ($0, exps[$0] / total) })
        }
        let text = { (token: Int) in tokenizer.decode([Int32(token)]) }
        if json {
            let object: [String: Any] = [
                "checkpoint": restore.directory, "step": restore.state.step, "prompt": prompt,
                "masks": masks.map { m in
                    ["position": m.position,
                     "predictions": m.top.map { ["token": $0.token, "text": text($0.token), "probability": $0.probability] }] as [String: Any]
                },
            ]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
            return
        }
        print("dptrain fill-mask: \(restore.directory) (step \(restore.state.step)), \(masks.count) [MASK] in \(tokens.count) tokens")
        print("prompt  \(prompt)")
        for (n, m) in masks.enumerated() {
            print("[MASK] \(n + 1) at token \(m.position):")
            for p in m.top {
                print("  \(quoted(text(p.token))) " + String(format: "%.4f", p.probability))
            }
            let best = tokens.enumerated().map { $0.offset == m.position ? Int32(m.top[0].token) : $0.element }
            print("  → \(tokenizer.decode(best))")
        }
    }
}
