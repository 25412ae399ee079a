using Microsoft.Extensions.Options;

namespace Aireiter.Jobs.Batches;

/// <summary>What happens when a batch finishes (section <c>Batches</c>).</summary>
public sealed class BatchesOptions
{
    public const string Section = "Batches";

    /// <summary>Where a finished batch is announced with a signed POST; empty for none.</summary>
    public string? WebhookUrl { get; set; }

    /// <summary>The HMAC-SHA256 key of the <c>X-Aireiter-Signature</c> header; required with a webhook. Keep it out of committed files.</summary>
    public string? WebhookSecret { get; set; }

    public TimeSpan WebhookTimeout { get; set; } = TimeSpan.FromSeconds(30);
}

public sealed class BatchesOptionsValidator : IValidateOptions<BatchesOptions>
{
    public ValidateOptionsResult Validate(string? name, BatchesOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.WebhookUrl))
        {
            return ValidateOptionsResult.Success;
        }

        var failures = new List<string>();
        if (!Uri.TryCreate(options.WebhookUrl, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
        {
            failures.Add($"Batches:WebhookUrl must be an absolute http or https URL (was '{options.WebhookUrl}').");
        }

        if (options.WebhookSecret is not { Length: >= 16 })
        {
            failures.Add("Batches:WebhookSecret must be set, at least 16 characters, when Batches:WebhookUrl is.");
        }

        if (options.WebhookTimeout <= TimeSpan.Zero || options.WebhookTimeout > TimeSpan.FromMinutes(5))
        {
            failures.Add($"Batches:WebhookTimeout must be above 0 and at most 00:05:00 (was {options.WebhookTimeout}).");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
