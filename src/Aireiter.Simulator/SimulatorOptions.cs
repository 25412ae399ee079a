namespace Aireiter.Simulator;

/// <summary>What a repeated <c>out_task_id</c> does: the real upstream does not document it.</summary>
public enum DuplicatePolicy
{
    /// <summary>A second task is created and billed: the worst case, and the default.</summary>
    BillAgain,

    /// <summary>The existing task is returned, nothing is billed.</summary>
    ReturnExisting,

    /// <summary>The submit is refused with a 400 envelope.</summary>
    Reject,
}

/// <summary>When callbacks are sent to a task's <c>callback_url</c>.</summary>
public enum CallbackMode
{
    OnCompletion,
    Late,
    Duplicated,
    Never,
}

/// <summary>How long a task takes, with uniform jitter of ± <see cref="Jitter"/> on completion.</summary>
public sealed class TaskTiming
{
    public TimeSpan ProcessingAfter { get; set; } = TimeSpan.FromSeconds(2);
    public TimeSpan CompletedAfter { get; set; } = TimeSpan.FromSeconds(8);
    public TimeSpan Jitter { get; set; } = TimeSpan.FromSeconds(2);
}

/// <summary>Every switch of the simulator; all can be changed while it runs.</summary>
public sealed class SimulatorOptions
{
    public const string Section = "Simulator";

    /// <summary>The bearer key it accepts. Anything else gets the 401 envelope.</summary>
    public string ApiKey { get; set; } = "simulator-key";

    public TaskTiming Timing { get; set; } = new();

    /// <summary>Per-model timings, overriding <see cref="Timing"/>.</summary>
    public Dictionary<string, TaskTiming> ModelTimings { get; set; } = [];

    /// <summary>Share of accepted tasks that end <c>failed</c>.</summary>
    public double FailureRate { get; set; }

    public string FailureMessage { get; set; } = "generation failed: the model returned no image";

    /// <summary>Credits per task by "model" or "model@resolution"; <see cref="DefaultCredits"/> otherwise.</summary>
    public Dictionary<string, decimal> Credits { get; set; } = new()
    {
        ["gpt_image_2@1K"] = 6, ["gpt_image_2@2K"] = 10, ["gpt_image_2@4K"] = 20,
        ["gpt_image_2_official@1K"] = 8, ["gpt_image_2_official@2K"] = 12, ["gpt_image_2_official@4K"] = 24,
        ["seedream_v5_lite@2K"] = 8, ["seedream_v5_lite@3K"] = 12,
    };

    public decimal DefaultCredits { get; set; } = 10;

    /// <summary>Credits left on the account; null is unlimited. At zero, submits get statusCode 433.</summary>
    public decimal? Balance { get; set; }

    public DuplicatePolicy DuplicatePolicy { get; set; } = DuplicatePolicy.BillAgain;

    /// <summary>Prompts containing any of these words are refused by "content review".</summary>
    public List<string> SafetyWords { get; set; } = ["forbidden"];

    public FaultOptions Faults { get; set; } = new();

    public CallbackMode Callbacks { get; set; } = CallbackMode.OnCompletion;

    /// <summary>How late a <see cref="CallbackMode.Late"/> callback comes.</summary>
    public TimeSpan CallbackDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Seed for every random choice, so a run can be repeated.</summary>
    public int? Seed { get; set; }

    /// <summary>Width and height of the generated placeholder PNGs.</summary>
    public int ImageSize { get; set; } = 64;
}

/// <summary>Injected faults. Rates are probabilities per call, from 0 to 1.</summary>
public sealed class FaultOptions
{
    public TimeSpan Latency { get; set; }

    public double ServerErrorRate { get; set; }

    public double RateLimitRate { get; set; }

    /// <summary>Sent as <c>Retry-After</c> with a 429; null sends none.</summary>
    public TimeSpan? RetryAfter { get; set; }

    /// <summary>Answer 200 with the marketing HTML page, as the upstream does for unknown routes.</summary>
    public double HtmlRate { get; set; }

    /// <summary>Accept and bill a submit, then drop the connection before answering: the ambiguous case.</summary>
    public double DropAfterAcceptRate { get; set; }

    /// <summary>Share of output image downloads answered with HTTP 500.</summary>
    public double ImageErrorRate { get; set; }

    /// <summary>Whether the rates above also hit queries (drops never do).</summary>
    public bool AffectQueries { get; set; } = true;
}
