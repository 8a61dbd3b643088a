import DPBase
import Foundation

/// Everything that can go wrong in DPData, each with one sentence a user can act on.
///
/// Library code throws these and never prints; the CLI prints `description` and exits non-zero.
public enum DataError: Error, Equatable, Sendable, CustomStringConvertible, LocalizedError {
    /// The char tokenizer met a character that is not in its vocabulary.
    case unknownCharacter(String, offset: Int)
    /// The word tokenizer met a word that is not in its vocabulary and it has no `<unk>` token.
    case unknownWord(String)
    /// A vocabulary size that the tokenizer cannot have.
    case invalidVocabularySize(TokenizerKind, Int, reason: String)
    /// A tokenizer.json that cannot be understood.
    case invalidTokenizerJSON(String)
    /// A Hugging Face tokenizer file (tokenizer.json, vocab.json, merges.txt) that cannot be read.
    case huggingFaceTokenizer(path: String, problem: String)
    /// A token file (llm.c format) that is missing, malformed or does not match the vocabulary.
    case tokenFile(path: String, problem: TokenFileProblem)
    /// A file or directory that cannot be read or written.
    case io(path: String, reason: String)
    /// An input file whose bytes are not UTF-8 text.
    case notUTF8(path: String)
    /// Too few tokens for what was asked of them.
    case dataTooShort(String)
    /// An argument outside its allowed range.
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .unknownCharacter(let c, let offset):
            return "The character \(quoted(c)) at offset \(offset) is not in the char tokenizer's vocabulary; tokenize this text with a tokenizer trained on it, or use the byte or bpe tokenizer."
        case .unknownWord(let w):
            return "The word \(quoted(w)) is not in the word tokenizer's vocabulary, which has no <unk> token."
        case .invalidVocabularySize(let kind, let n, let reason):
            return "A vocabulary size of \(n) is not possible for the \(kind.rawValue) tokenizer: \(reason)."
        case .invalidTokenizerJSON(let reason):
            return "The tokenizer.json is invalid: \(reason)."
        case .huggingFaceTokenizer(let path, let problem):
            return "\(path): \(problem)."
        case .tokenFile(let path, let problem):
            return "\(path): \(problem)."
        case .io(let path, let reason):
            return "\(path): \(reason)."
        case .notUTF8(let path):
            return "\(path) is not UTF-8 text; convert it to UTF-8 first."
        case .dataTooShort(let what):
            return what
        case .invalidArgument(let what):
            return what
        }
    }

    public var errorDescription: String? { description }
}

/// What is wrong with a token file; `DataError.tokenFile` pairs it with the file's path.
public enum TokenFileProblem: Equatable, Sendable, CustomStringConvertible {
    case cannotOpen(String)
    case tooSmallForHeader(bytes: Int)
    case badMagic(Int32)
    case badVersion(Int32)
    case negativeCount(Int32)
    case sizeMismatch(expectedBytes: Int, actualBytes: Int)
    case tokenOutOfRange(index: Int, token: Int64, vocabSize: Int)

    public var description: String {
        switch self {
        case .cannotOpen(let reason):
            return "cannot be opened (\(reason))"
        case .tooSmallForHeader(let bytes):
            return "has \(bytes) bytes, fewer than the \(TokenFile.headerBytes)-byte header of an llm.c token file"
        case .badMagic(let magic):
            return "has magic number \(magic), not \(TokenFile.magic); it is not an llm.c token file"
        case .badVersion(let version):
            return "has version \(version); only 1 (uint16 tokens) and 2 (uint32 tokens) exist"
        case .negativeCount(let count):
            return "has a negative token count (\(count)) in its header"
        case .sizeMismatch(let expected, let actual):
            return "has \(actual) bytes but its header's token count needs \(expected); the file is truncated or corrupt"
        case .tokenOutOfRange(let index, let token, let vocabSize):
            return "token \(index) is \(token), not below the vocabulary size \(vocabSize); the file was made with another tokenizer"
        }
    }
}
