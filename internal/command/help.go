package command

// HelpText is the reply to "/build help" and to commands that cannot be
// run where they were written.
const HelpText = "**Linux Builder commands** (first line of a comment; users with write access):\n\n" +
	"| command | what it does |\n|---|---|\n" +
	"| `/build` | on a pull request: build its `linux-build.yaml` at the head commit |\n" +
	"| `/build approve <sha>` | on a pull request from a fork or a user without write access: build the commit you reviewed, named by its SHA (at least 7 characters; it must still be the head; a new push needs a new approval) |\n" +
	"| `/build retry` | build again what the last run of this issue or pull request built |\n" +
	"| `/build cancel` | cancel this issue's or pull request's running builds |\n" +
	"| `/build <description>` | generate a spec from a plain-English description and build it (a spec that runs scripts or fetches dotfiles is shown first) |\n" +
	"| `/build confirm <hash>` | build the generated spec shown with that hash |\n" +
	"| `/build --pr <description>` | the same, and open a pull request adding the generated spec |\n" +
	"| `/build help` | this list |\n"
