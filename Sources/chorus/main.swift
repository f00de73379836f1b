// The `chorus` executable: parse and dispatch only; everything else lives in ChorusCLI.
import ChorusCLI
import Foundation

exit(ChorusCommandLine.run(Array(CommandLine.arguments.dropFirst())))
