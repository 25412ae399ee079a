using Microsoft.Extensions.Options;

namespace Aireiter.Jobs.AspNetCore.Api;

/// <summary>
/// Where the engine maps its endpoints inside the host app. They throw on a parameter they cannot bind, so that
/// <see cref="ProblemResponses"/> can answer with a problem that names it, while the app's own endpoints keep the app's
/// <see cref="RouteHandlerOptions"/>. Minimal APIs read that option from the builder's services once per data source; a
/// group mapped here gets its own data source, built with the one option this builder answers itself.
/// </summary>
internal sealed class EngineEndpoints(IEndpointRouteBuilder app) : IEndpointRouteBuilder, IServiceProvider
{
    private static readonly IOptions<RouteHandlerOptions> Throwing = Options.Create(new RouteHandlerOptions { ThrowOnBadRequest = true });

    /// <summary>A group at the app's root whose endpoints are built with <see cref="Throwing"/>.</summary>
    public static RouteGroupBuilder Group(IEndpointRouteBuilder app) => new EngineEndpoints(app).MapGroup("");

    public IServiceProvider ServiceProvider => this;

    // The group's own data source is added to the app's list, so the app routes to it like to any other.
    public ICollection<EndpointDataSource> DataSources => app.DataSources;

    public IApplicationBuilder CreateApplicationBuilder() => app.CreateApplicationBuilder();

    public object? GetService(Type serviceType) =>
        serviceType == typeof(IOptions<RouteHandlerOptions>) ? Throwing : app.ServiceProvider.GetService(serviceType);
}
