/// Placeholder until scripts/embeddings/build_table.py writes the generated table.
enum StaticEmbeddings {
    static let dimensions: Int = 0
    static let vocabulary: String = ""
    static let weightsBase64: String = ""
    static let scalesBase64: String = ""
    static let tableBase64: String = ""
    static let tableSHA256: String = ""
}
