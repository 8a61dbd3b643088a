import ArgumentParser
import DPComm
import DPData
import DPTrainer
import Foundation

/// `dptrain import-hf DIR --out CHECKPOINT`: a Hugging Face GPT-2 directory becomes a dptrain
/// checkpoint directory.
struct ImportHF: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-hf",
        abstract: "Turn a Hugging Face GPT-2 directory into a dptrain checkpoint.",
        discussion: """
            DIR holds config.json (model_type gpt2), model.safetensors (tensor names with or \
            without the transformer. prefix; F32, F16 or BF16, widened to F32) and the tokenizer \
            (tokenizer.json, or vocab.json and merges.txt), as save_pretrained writes them or the \
            Hugging Face hub serves them. The checkpoint written at --out is a step-0 checkpoint \
            of the gpt2 preset with the tokenizer inside, verified like any other: dptrain sample \
            --checkpoint, eval, and train --init-from read it. Needs no MPI; under mpirun only \
            rank 0 imports.
            """)

    @Argument(help: ArgumentHelp("The Hugging Face model directory.", valueName: "dir"))
    var directory: String

    @Option(help: ArgumentHelp("The checkpoint directory to write; it must not exist yet.", valueName: "checkpoint"))
    var out: String

    func run() throws {
        guard Launcher.rank(environment: ProcessInfo.processInfo.environment) == 0 else { return }
        let source = URL(fileURLWithPath: directory), destination = URL(fileURLWithPath: out)
        do {
            let weights = try HuggingFaceGPT2.readWeights(directory: source)
            let tokenizer = try Tokenizers.loadHuggingFace(directory: source)
            let tokenizerFile = FileManager.default.fileExists(atPath: source.appendingPathComponent("tokenizer.json").path)
                ? "tokenizer.json" : "vocab.json"
            try HuggingFaceGPT2.writeCheckpoint(
                weights, tokenizer: tokenizer, tokenizerPath: source.appendingPathComponent(tokenizerFile).path,
                source: source, out: destination)
            let c = weights.config
            print("dptrain import-hf: wrote \(destination.standardizedFileURL.path): GPT-2 of \(c.layers) layers, \(c.heads) heads, "
                + "dim \(c.dim), context \(c.context), vocabulary \(c.vocabSize), \(c.parameterCount) parameters")
        } catch {
            printError("dptrain: error: \(sentence(error))")
            throw ExitCode.failure
        }
    }
}

/// An error's text as one sentence (a full stop at the end).
func sentence(_ error: any Error) -> String {
    let text = "\(error)"
    return text.hasSuffix(".") ? text : text + "."
}
