using System.Security.Cryptography;
using System.Text;

namespace Aireiter.Jobs.Callbacks;

/// <summary>
/// The per-request signature in a callback URL. The upstream documents no signing of its own, so the
/// URL we hand it carries an HMAC of the out_task_id; a call without the right one changes nothing.
/// </summary>
public static class CallbackSignature
{
    public const string RoutePrefix = "/callbacks/aireiter";

    public static string Compute(string secret, string outTaskId) =>
        Base64Url(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(outTaskId)));

    public static bool Verify(string secret, string outTaskId, string? signature)
    {
        if (string.IsNullOrEmpty(signature))
        {
            return false;
        }

        var expected = Encoding.ASCII.GetBytes(Compute(secret, outTaskId));
        var given = Encoding.ASCII.GetBytes(signature);
        return CryptographicOperations.FixedTimeEquals(expected, given);
    }

    public static Uri UrlFor(Uri publicBaseUrl, string secret, string outTaskId) =>
        new(publicBaseUrl, $"{RoutePrefix}/{Uri.EscapeDataString(outTaskId)}?sig={Compute(secret, outTaskId)}");

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
