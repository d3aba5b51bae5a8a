using Dlm.Cli;

return await DlmCli.RunAsync(args, Console.Out, Console.Error, Console.OpenStandardInput()).ConfigureAwait(false);
