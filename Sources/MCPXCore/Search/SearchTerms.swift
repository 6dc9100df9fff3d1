import Synchronization

/// Term ids shared by the segments of one index family: every stemmed term gets a small integer
/// once, so a `ToolIndex` merges its segments and scores queries on integers, not strings. Only
/// grows (a term that no tool has any more keeps its id; 10,000 tools have about 20,000 terms).
public final class SearchTerms: Sendable {
    private let ids = Mutex<[String: Int32]>([:])

    public init() {}

    /// The id of each of `terms`, new ones added.
    func intern(_ terms: [String]) -> [Int32] {
        ids.withLock { ids in
            terms.map { t in
                if let id = ids[t] { return id }
                let id = Int32(ids.count)
                ids[t] = id
                return id
            }
        }
    }

    /// The id of `term`, if any tool has had it.
    func lookup(_ term: String) -> Int32? {
        ids.withLock { $0[term] }
    }

    var count: Int { ids.withLock { $0.count } }
}
