namespace Aireiter.Jobs.Engine;

/// <summary>What this node's engine is doing, for health and the dashboard: why submitting waits, if it does.</summary>
public sealed class EngineStatus
{
    private volatile string? _submitBlockedBy;

    /// <summary>Null while submits flow; otherwise the limit or pause that holds them.</summary>
    public string? SubmitBlockedBy => _submitBlockedBy;

    /// <summary>
    /// This node has just seen an account-level fault. Rows it already claimed are then put back instead of
    /// being sent into the same fault one after another; cleared when a claim round finds no pause.
    /// </summary>
    public bool SubmitPaused { get; set; }

    /// <summary>Records the current reason; returns true when it changed (so it is logged once, not every tick).</summary>
    public bool SetSubmitBlockedBy(string? reason)
    {
        var before = _submitBlockedBy;
        _submitBlockedBy = reason;
        return !string.Equals(before, reason, StringComparison.Ordinal);
    }
}
