import ArgumentParser
import DPComm
import DPData
import DPTrainer
import Foundation

/// `dptrain export-hf CHECKPOINT --out DIR`: a dptrain checkpoint becomes a Hugging Face GPT-2
/// directory that transformers loads.
struct ExportHF: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-hf",
        abstract: "Write a checkpoint as a Hugging Face GPT-2 directory (config.json, model.safetensors, tokenizer.json).",
        discussion: """
            CHECKPOINT is a checkpoint directory, OUT/checkpoints, or a run's --out directory (then \
            the checkpoint LATEST names), as for dptrain sample. DIR gets config.json \
            (GPT2LMHeadModel, the model's sizes, no dropout), model.safetensors (F32, \
            save_pretrained's names and layouts), tokenizer.json and tokenizer_config.json, so that \
            GPT2LMHeadModel.from_pretrained(DIR) and AutoTokenizer.from_pretrained(DIR) load it. Only \
            GPT-2-shaped models export: LayerNorm, residuals, learned positions and GELU (the gpt \
            and gpt2 presets); a gpt-preset model has no attention biases and exports zero ones. \
            Needs no MPI; under mpirun only rank 0 exports.
            """)

    @Argument(help: ArgumentHelp("A checkpoint directory, OUT/checkpoints, or a run's --out directory.", valueName: "checkpoint"))
    var checkpoint: String

    @Option(help: ArgumentHelp("The directory to write (created if needed; its config.json, model.safetensors and tokenizer files are replaced).", valueName: "dir"))
    var out: String

    func run() throws {
        guard Launcher.rank(environment: ProcessInfo.processInfo.environment) == 0 else { return }
        let destination = URL(fileURLWithPath: out)
        do {
            let restore = try Restore.read(path: URL(fileURLWithPath: checkpoint), out: URL(fileURLWithPath: checkpoint))
            if let problem = GPT2Config.exportProblem(restore.state.model) {
                throw HuggingFaceError(path: restore.directory, "holds a model that \(problem)")
            }
            let tokenizer = try Tokenizers.load(json: restore.tokenizerJSON)
            // The tokenizer before any file: a tokenizer Hugging Face cannot express leaves DIR untouched.
            let files = [
                ("tokenizer.json", try Tokenizers.huggingFaceJSON(for: tokenizer)),
                ("tokenizer_config.json", try Tokenizers.huggingFaceTokenizerConfig(for: tokenizer, context: restore.state.model.context)),
            ]
            let endOfText = (tokenizer as? HuggingFaceTokenizer)?.id(of: HuggingFaceTokenizer.endOfText).map(Int.init)
            try HuggingFaceGPT2.export(restore, to: destination, endOfText: endOfText)
            for (name, data) in files {
                do {
                    try data.write(to: destination.appendingPathComponent(name), options: .atomic)
                } catch {
                    throw HuggingFaceError(path: destination.appendingPathComponent(name).path, "could not be written: \(error.localizedDescription)")
                }
            }
            let c = restore.state.model
            print("dptrain export-hf: wrote \(destination.standardizedFileURL.path) from \(restore.directory) (step \(restore.state.step)): "
                + "GPT-2 of \(c.layers) layers, \(c.heads) heads, dim \(c.dim), context \(c.context), vocabulary \(c.vocabSize)")
        } catch {
            printError("dptrain: error: \(sentence(error))")
            throw ExitCode.failure
        }
    }
}
