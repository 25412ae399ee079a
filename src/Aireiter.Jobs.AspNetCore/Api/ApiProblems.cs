using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Aireiter.Jobs.AspNetCore.Api;

/// <summary>
/// Every error the API gives is <c>application/problem+json</c> and says what was wrong with which input:
/// a query parameter it cannot read or does not know, a body too large, a resource that is not there.
/// </summary>
public static partial class ApiProblems
{
    public static ProblemHttpResult NotFound(string detail) =>
        TypedResults.Problem(detail, statusCode: StatusCodes.Status404NotFound, title: "Not found");

    /// <summary>
    /// Refuses query parameters the endpoint does not take, and any given twice: a misspelt filter
    /// (<c>?stat=failed</c>) would otherwise be ignored and answer with everything.
    /// </summary>
    public static EndpointFilterDelegate RejectUnknownQueryParameters(EndpointFilterFactoryContext context, EndpointFilterDelegate next)
    {
        var taken = context.MethodInfo.GetParameters()
            .Where(p => IsQueryValue(p))
            .Select(p => p.Name!)
            .ToHashSet(StringComparer.OrdinalIgnoreCase);
        return invocation =>
        {
            var errors = new Dictionary<string, string[]>();
            foreach (var (name, values) in invocation.HttpContext.Request.Query)
            {
                if (!taken.Contains(name))
                {
                    errors[name] = [taken.Count == 0
                        ? "is not a parameter of this endpoint (it takes none)"
                        : $"is not a parameter of this endpoint (it takes: {string.Join(", ", taken.Order(StringComparer.Ordinal))})"];
                }
                else if (values.Count > 1)
                {
                    errors[name] = [$"is given {values.Count} times; give it once"];
                }
            }

            return errors.Count > 0
                ? ValueTask.FromResult<object?>(TypedResults.ValidationProblem(errors, title: "Some query parameters are not valid."))
                : next(invocation);
        };
    }

    /// <summary>What ASP.NET Core says when it cannot bind a parameter, as a problem that names it and what it expects.</summary>
    internal static IResult? BindingProblem(BadHttpRequestException exception)
    {
        var match = BindFailure().Match(exception.Message);
        if (match.Success)
        {
            var name = match.Groups["name"].Value;
            return TypedResults.ValidationProblem(
                new Dictionary<string, string[]> { [name] = [$"'{match.Groups["value"].Value}' is not {Expected(match.Groups["type"].Value)}"] },
                title: "Some query parameters are not valid.");
        }

        match = Missing().Match(exception.Message);
        if (match.Success)
        {
            return TypedResults.ValidationProblem(
                new Dictionary<string, string[]> { [match.Groups["name"].Value] = ["is required"] }, title: "A parameter is missing.");
        }

        if (exception.InnerException is System.Text.Json.JsonException json)
        {
            return JsonBody.BadRequest($"The body is not valid: {json.Message}");
        }

        return null;
    }

    private static bool IsQueryValue(ParameterInfo parameter)
    {
        var type = Nullable.GetUnderlyingType(parameter.ParameterType) ?? parameter.ParameterType;
        var simple = type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(decimal) || type == typeof(DateTimeOffset)
                     || type == typeof(DateTime) || type == typeof(Guid);
        return simple && parameter.GetCustomAttribute<FromServicesAttribute>() is null && parameter.GetCustomAttribute<FromBodyAttribute>() is null;
    }

    private static string Expected(string type) => NullableOf().Replace(type, "$1").TrimEnd('?') switch
    {
        "DateTimeOffset" or "DateTime" => "a date and time: use ISO 8601 with an offset, e.g. 2026-12-01T09:30:00Z",
        "long" or "int" or "short" or "Int64" or "Int32" or "Int16" => "a whole number",
        "bool" or "Boolean" => "true or false",
        "double" or "decimal" or "Double" or "Decimal" => "a number",
        var other => $"a valid {other}",
    };

    [GeneratedRegex("""^Failed to bind parameter "(?<type>\S+) (?<name>[^"]+)" from "(?<value>.*)"\.$""", RegexOptions.Singleline)]
    private static partial Regex BindFailure();

    [GeneratedRegex("^Nullable<(.+)>$")]
    private static partial Regex NullableOf();

    [GeneratedRegex("""^Required parameter "(?<type>\S+) (?<name>[^"]+)" was not provided""")]
    private static partial Regex Missing();
}

/// <summary>
/// Turns what ASP.NET Core refuses before a handler of the engine runs (a body over the limit, a parameter it cannot
/// bind) into problem details, with one warning line and no stack trace. The host app's own paths are left to it.
/// </summary>
public sealed partial class ProblemResponses(RequestDelegate next, ILogger<ProblemResponses> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        try
        {
            await next(context);
        }
        catch (BadHttpRequestException ex) when (!context.Response.HasStarted && IsEngines(context.Request.Path))
        {
            var result = ex.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? TypedResults.Problem(TooLarge(context), statusCode: ex.StatusCode, title: "Payload too large")
                : ApiProblems.BindingProblem(ex) ?? TypedResults.Problem(ex.Message, statusCode: ex.StatusCode, title: "Bad request");
            LogRefused(context.Request.Method, context.Request.Path, ex.StatusCode, ex.Message);
            context.Response.Clear();
            await result.ExecuteAsync(context);
        }
    }

    private static bool IsEngines(PathString path) =>
        path.StartsWithSegments("/api") || path.StartsWithSegments(Jobs.Callbacks.CallbackSignature.RoutePrefix);

    private static string TooLarge(HttpContext context)
    {
        var limit = context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize;
        var setting = context.Request.Path.Value?.EndsWith("/import", StringComparison.Ordinal) == true ? "Access:MaxImportBytes" : "Access:MaxBodyBytes";
        return limit is { } bytes
            ? $"The body is larger than the limit of {bytes:N0} bytes ({setting}). Nothing was stored."
            : "The body is too large. Nothing was stored.";
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused {Method} {Path} with {Status}: {Reason}")]
    private partial void LogRefused(string method, string path, int status, string reason);
}
